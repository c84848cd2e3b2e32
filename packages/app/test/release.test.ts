import { freePort } from '@kontena-ipam/testing/ports';
import { describe, expect, it } from 'vitest';
import {
  envFor,
  ip,
  node,
  pool,
  runCommand,
  runWithoutEtcd,
  uniquePrefix,
  useOperatorEtcd,
} from './support/operator.js';

const etcd = useOperatorEtcd();

async function demo() {
  const { env, store, client, root } = await etcd.demo();
  const exists = async (key: string) => (await client.get(`${root}${key}`).string()) !== null;
  return { env, store, exists };
}

describe('kontena-ipam release', () => {
  it('refuses without --yes (exit 2), saying what it would free, and frees nothing', async () => {
    const { env, exists } = await demo();
    const result = await runCommand(['release', 'kontena', '10.81.128.11'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^kontena-ipam release: would free 10\.81\.128\.11 of kontena \(node-b's endpoint web-2, taken \d+s ago\); add --yes if no container uses it\n$/,
    );
    expect(await exists('addresses/kontena/10.81.128.11')).toBe(true);
  });

  it("frees another node's address with --yes; the store can hand it out again", async () => {
    const { env, store, exists } = await demo();
    const result = await runCommand(['release', 'kontena', '10.81.128.11', '--yes'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^released 10\.81\.128\.11 of kontena \(was node-b's endpoint web-2, taken \d+s ago\)\n$/,
    );
    expect(await exists('addresses/kontena/10.81.128.11')).toBe(false);
    // Everything else is untouched.
    expect(await exists('addresses/kontena/10.81.128.10')).toBe(true);
    const again = await store.requestAddress({
      pool: pool('kontena'),
      node: node('node-c'),
      kind: 'endpoint',
      address: ip('10.81.128.11'),
    });
    expect(again.node).toBe('node-c');
  });

  it('refuses the gateway unless --force (exit 1), then frees it', async () => {
    const { env, exists } = await demo();
    const refused = await runCommand(['release', 'kontena', '10.81.0.1', '--yes'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'kontena-ipam release: 10.81.0.1 is the gateway of kontena; Docker routes the network through it. Add --force to free it anyway\n',
    );
    expect(await exists('addresses/kontena/10.81.0.1')).toBe(true);
    const forced = await runCommand(['release', 'kontena', '10.81.0.1', '--yes', '--force'], env);
    expect(forced.code).toBe(0);
    expect(await exists('addresses/kontena/10.81.0.1')).toBe(false);
  });

  it('--json reports what was freed', async () => {
    const { env } = await demo();
    const result = await runCommand(['release', 'small', '10.82.0.3', '--yes', '--json'], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      network: 'small',
      address: '10.82.0.3',
      released: true,
      was: {
        node: 'node-a',
        kind: 'endpoint',
        mac: null,
        endpoint: 'db-3',
        at: expect.any(String),
      },
    });
  });

  it('an address that is not taken, or an unknown network, exits 1', async () => {
    const { env } = await demo();
    const free = await runCommand(['release', 'kontena', '10.81.128.99', '--yes'], env);
    expect(free).toEqual({
      code: 1,
      stdout: '',
      stderr: 'kontena-ipam release: 10.81.128.99 is not taken in kontena; nothing to do\n',
    });
    const unknown = await runCommand(['release', 'nope', '10.1.0.1', '--yes'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('kontena-ipam release: no pool named nope\n');
  });

  it('bad arguments exit 2 before touching etcd', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const env = envFor(endpoint, uniquePrefix());
    const missing = await runCommand(['release', 'kontena'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'kontena-ipam release: expected NETWORK and ADDRESS; see kontena-ipam release --help\n',
    );
    const badAddress = await runCommand(['release', 'kontena', '10.81.300.1', '--yes'], env);
    expect(badAddress.code).toBe(2);
    expect(badAddress.stderr).toContain('10.81.300.1');
  });

  it('exits 1 naming the endpoint when etcd is unreachable', async () => {
    const { endpoint, ...result } = await runWithoutEtcd([
      'release',
      'kontena',
      '10.81.128.11',
      '--yes',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^kontena-ipam release: etcd unavailable at ${endpoint}: `),
    );
  });
});
