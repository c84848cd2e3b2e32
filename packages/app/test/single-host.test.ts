import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../testing/ports.js';
import { loadConfig } from '../src/config.js';
import { answers } from '../src/local-etcd.js';
import { serve } from '../src/serve.js';
import { callPlugin } from './support/plugin-process.js';

describe('serve in single-host mode (no ETCD_ENDPOINT, nothing on the default endpoint)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-single-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a local etcd on the default endpoint, keeps pools across restarts, stops it on close', async () => {
    const config = loadConfig({
      NODE_ID: 'node-a',
      KONTENA_IPAM_SOCKET: join(dir, 'kontena-ipam.sock'),
      KONTENA_IPAM_STATE_DIR: join(dir, 'state'),
    });
    // The default endpoint, moved to a free port so the test cannot meet a real etcd on 2379.
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    config.etcd.endpoints = [endpoint];
    expect(config.etcd.explicit).toBe(false);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const request = {
      AddressSpace: 'LocalDefault',
      Pool: '',
      SubPool: '',
      Options: { network: 'kontena0' },
      V6: false,
    };

    const first = await serve({ config, logger });
    try {
      expect(first.mode).toBe('single-host');
      expect(first.endpoint).toBe(endpoint);
      expect(lines.join('')).toContain('single-host mode: started a local etcd');
      const reply = await callPlugin(config.socketPath, 'IpamDriver.RequestPool', request);
      expect(reply.body).toMatchObject({ PoolID: 'kontena0', Pool: '10.80.0.0/24' });
    } finally {
      await first.close();
    }
    expect(await answers(endpoint)).toBe(false);

    const second = await serve({ config, logger });
    try {
      // The pool survived in the state folder: this host still holds it, so a repeat of the
      // dynamic request is refused with its subnet (Docker's route-overlap loop guard).
      const reply = await callPlugin(config.socketPath, 'IpamDriver.RequestPool', request);
      expect(String(reply.body.Err)).toContain('10.80.0.0/24');
    } finally {
      await second.close();
    }
  });
});
