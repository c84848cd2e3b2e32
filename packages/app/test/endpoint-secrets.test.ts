/**
 * A password never rides in an endpoint URL, and never crosses the network in the clear
 * unannounced: config refuses `http://user:secret@host` (exit 2, saying where the password
 * goes) without repeating the secret, every endpoint text used in messages is redacted, and a
 * password sent over plain http:// to a host that is not loopback gets a warning at start.
 * The served-plugin case runs in a network namespace of its own (loopback only), so the
 * non-loopback endpoint it names is unreachable and nothing leaves this machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { endpointText, plainPasswordEndpoints, redactEndpoint } from '../src/endpoint-text.js';
import { openStore } from '../src/open-store.js';
import { callPlugin, type PluginProcess, runBin, startPlugin } from './support/plugin-process.js';
import { IN_NEW_NETNS } from './support/private-netns.js';

const SECRET = 'pw-Secret-4711';
const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-endpoint-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const plugins: PluginProcess[] = [];
afterEach(async () => {
  for (const plugin of plugins.splice(0)) await plugin.stop('SIGKILL');
});

describe('redactEndpoint and endpointText', () => {
  it.each([
    ['http://10.0.0.1:2379', 'http://10.0.0.1:2379'],
    ['unix:///run/etcd/client:0', 'unix:///run/etcd/client:0'],
    [`http://:${SECRET}@etcd:2379`, 'http://***@etcd:2379'],
    [`https://user:${SECRET}@etcd`, 'https://***@etcd'],
    [`user:${SECRET}@etcd:2379`, '***@etcd:2379'],
    [`http://u:a@b/${SECRET}@etcd:2379`, 'http://***@etcd:2379'],
  ])('%s → %s', (text, shown) => {
    expect(redactEndpoint(text)).toBe(shown);
  });

  it('joins a list, each redacted', () => {
    expect(endpointText(['http://a:2379', `http://u:${SECRET}@b:2379`])).toBe(
      'http://a:2379,http://***@b:2379',
    );
  });
});

describe('plainPasswordEndpoints: where a password would travel in the clear', () => {
  const withPassword = (endpoints: string[]) =>
    plainPasswordEndpoints({ endpoints, password: SECRET });

  it('names plain http:// endpoints that are not loopback', () => {
    expect(withPassword(['http://10.0.0.1:2379', 'http://etcd.example:2379'])).toEqual([
      'http://10.0.0.1:2379',
      'http://etcd.example:2379',
    ]);
  });

  it('leaves out loopback, https:// and unix sockets, and everything without a password', () => {
    expect(
      withPassword(['http://127.0.0.1:2379', 'http://localhost:2379', 'http://[::1]:2379']),
    ).toEqual([]);
    expect(withPassword(['https://10.0.0.1:2379'])).toEqual([]);
    expect(withPassword(['unix:///run/etcd/client:0'])).toEqual([]);
    expect(
      plainPasswordEndpoints({ endpoints: ['http://10.0.0.1:2379'], password: undefined }),
    ).toEqual([]);
  });
});

describe('openStore', () => {
  function captured() {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    return { lines, logger };
  }

  it('warns before anything dials when the password goes over plain http:// to another host, naming the endpoint and not the password', async () => {
    // No etcd call is made here: openStore is lazy, and the store is closed unused.
    const config = loadConfig({
      NODE_ID: 'node-a',
      ETCD_ENDPOINT: 'http://192.0.2.10:2379,http://127.0.0.1:2379',
      ETCD_USERNAME: 'kontena-ipam',
      ETCD_PASSWORD: SECRET,
    });
    const { lines, logger } = captured();
    const opened = openStore(config, { logger });
    await opened.close();
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      endpoint: 'http://192.0.2.10:2379',
      msg: expect.stringContaining('the etcd password goes over plain http://'),
    });
    expect(lines.join('')).not.toContain(SECRET);
  });

  it('says nothing for https://, loopback or without a password', async () => {
    for (const env of [
      { ETCD_ENDPOINT: 'http://127.0.0.1:2379', ETCD_USERNAME: 'u', ETCD_PASSWORD: SECRET },
      { ETCD_ENDPOINT: 'http://192.0.2.10:2379' },
    ]) {
      const { lines, logger } = captured();
      await openStore(loadConfig({ NODE_ID: 'node-a', ...env }), { logger }).close();
      expect(lines).toEqual([]);
    }
  });

  it('refuses a hand-made config whose endpoint holds a password, without repeating it', () => {
    const config = loadConfig({ NODE_ID: 'node-a' });
    config.etcd.endpoints = [`http://root:${SECRET}@127.0.0.1:2379`];
    let message = '';
    try {
      openStore(config, { logger: pino({ level: 'silent' }) });
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_CONFIG', kind: 'invalid' });
      message = (error as Error).message;
    }
    expect(message).toContain('etcd endpoint http://***@127.0.0.1:2379 holds a user name');
    expect(message).not.toContain(SECRET);
  });
});

describe('the bins with a password in ETCD_ENDPOINT', () => {
  it.each([
    [`http://:${SECRET}@127.0.0.1:2379`, []],
    [`http://kontena-ipam:${SECRET}@127.0.0.1:2379`, []],
    [`http://127.0.0.1:2379,http://u:${SECRET},x@127.0.0.2:2379`, []],
    [`http://:${SECRET}@127.0.0.1:2379`, ['status']],
  ])(
    '%s (%j): exit 2, the password named nowhere, ETCD_PASSWORD_FILE suggested',
    async (endpoint, args) => {
      const result = await runBin(args, {
        NODE_ID: 'node-a',
        ETCD_ENDPOINT: endpoint,
        KONTENA_IPAM_SOCKET: join(dir, 'never.sock'),
        LOG_FORMAT: 'json',
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ETCD_ENDPOINT="http://***@127.0.0.');
      expect(result.stderr).toContain(
        'set ETCD_USERNAME and ETCD_PASSWORD_FILE (or ETCD_PASSWORD) instead',
      );
      expect(`${result.stdout}${result.stderr}`).not.toContain(SECRET);
    },
  );
});

describe('a served plugin with a password over plain http:// to another host', () => {
  it('warns at start, naming the endpoint; neither the log nor the Err Docker gets holds the password', async () => {
    const plugin = await startPlugin({
      socket: join(dir, 'plain.sock'),
      env: {
        NODE_ID: 'node-a',
        ETCD_ENDPOINT: 'http://192.0.2.10:2379',
        ETCD_USERNAME: 'kontena-ipam',
        ETCD_PASSWORD: SECRET,
        KONTENA_IPAM_ETCD_TIMEOUT: '500',
      },
      // Loopback only: 192.0.2.10 (TEST-NET-1) has no route in here, so nothing is sent.
      prefix: IN_NEW_NETNS,
    });
    plugins.push(plugin);
    const reply = await callPlugin(plugin.socket, 'IpamDriver.RequestPool', {
      AddressSpace: 'LocalDefault',
      Pool: '',
      SubPool: '',
      Options: { network: 'kontena0' },
      V6: false,
    });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    expect(String(reply.body.Err)).toContain('etcd unavailable at http://192.0.2.10:2379');
    expect(await plugin.stop()).toBe(0);
    const lines = plugin
      .output()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string; endpoint?: string });
    const warning = lines.findIndex((l) =>
      l.msg.startsWith('the etcd password goes over plain http://'),
    );
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(lines[warning]).toMatchObject({ level: 40, endpoint: 'http://192.0.2.10:2379' });
    // At start: before the plugin says it serves.
    const serving = lines.findIndex((l) => l.msg.startsWith('kontena-ipam is serving Docker'));
    expect(warning).toBeLessThan(serving);
    expect(plugin.output()).not.toContain(SECRET);
    expect(JSON.stringify(reply.body)).not.toContain(SECRET);
  });
});
