import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freePorts } from '@kontena-ipam/testing/ports';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { answers, startLocalEtcd } from '../src/local-etcd.js';

describe('single-host mode: the local etcd', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'kontena-ipam-state-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('starts on loopback, says so, and keeps its data in the state folder across restarts', async () => {
    const [clientPort, peerPort] = await freePorts(2);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const endpoint = `http://127.0.0.1:${clientPort}`;
    expect(await answers(endpoint)).toBe(false);

    const first = await startLocalEtcd({ stateDir, clientPort, peerPort, logger });
    expect(first.endpoint).toBe(endpoint);
    expect(first.dataDir).toBe(join(stateDir, 'etcd'));
    expect(await answers(endpoint)).toBe(true);
    expect(lines.join('')).toContain('single-host mode: started a local etcd');
    const client = new Etcd3({ hosts: endpoint });
    try {
      await client.put('/kontena/ipam/test').value('kept');
      await first.stop();
      expect(await answers(endpoint)).toBe(false);

      const second = await startLocalEtcd({ stateDir, clientPort, peerPort, logger });
      try {
        expect(await client.get('/kontena/ipam/test').string()).toBe('kept');
      } finally {
        await second.stop();
      }
    } finally {
      client.close();
    }
  });

  it('says how to install etcd when there is none', async () => {
    const logger = pino({ level: 'silent' });
    await expect(
      startLocalEtcd({
        stateDir,
        logger,
        binary: '/nonexistent/etcd',
        clientPort: await freePort(),
      }),
    ).rejects.toMatchObject({
      code: 'NO_ETCD_BINARY',
      message: expect.stringContaining('apt-get install -y etcd-server'),
    });
  });
});
