/**
 * Node registration and fencing on a real etcd: one live instance per NODE_ID, every write for
 * a host fenced on its registration, and operator fences (forget a host only while it is gone).
 * The same claims across real plugin processes (SIGKILL, SIGSTOP) are in the app's tests.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import type { Etcd3 } from 'etcd3';
import { describe, expect } from 'vitest';
import type { InstanceInfo, IpamStore, NodeRegistration } from '../src/index.js';
import { dumpKeys, ip, net, node, pool, rejectsWith, test, uniquePrefix } from './harness.js';

const info = (hostname: string, pid = 1000): InstanceInfo => ({
  hostname,
  pid,
  version: '0.0.0-test',
  startedAt: new Date().toISOString(),
});

const twin = node('twin');
const net1 = pool('net1');

/** twoStores are two stores (two "processes": separate clients) on one prefix. */
function twoStores(env: {
  store(o: { prefix: string; client: Etcd3 }): IpamStore;
  newClient(): Etcd3;
}) {
  const prefix = uniquePrefix();
  const a = env.store({ prefix, client: env.newClient() });
  const b = env.store({ prefix, client: env.newClient() });
  return { prefix, a, b };
}

/**
 * crash stops an instance the way SIGKILL would: no keepalive, no revoke, and no more attempts
 * of its own (its process is gone), so its lease simply runs out.
 */
function crash(reg: NodeRegistration): void {
  const inside = reg as unknown as {
    lease: { release(): void };
    watchdog: NodeJS.Timeout;
    timer: NodeJS.Timeout;
  };
  clearInterval(inside.watchdog);
  clearTimeout(inside.timer);
  inside.lease.release();
}

async function addressKeys(client: Etcd3, prefix: string): Promise<string[]> {
  return Object.keys(await dumpKeys(client, prefix))
    .filter((k) => k.startsWith('addresses/'))
    .sort();
}

describe('one live instance per NODE_ID', () => {
  test('the second instance of a NODE_ID serves nothing, says why, and writes nothing', async ({
    env,
  }) => {
    const { prefix, a, b } = twoStores(env);
    const first = a.register(twin, info('vm-a'), { ttlSeconds: 5, retryMs: 100 });
    await first.serving();
    await a.requestPool({ network: net1, node: twin, subnet: net('10.50.0.0/24') });
    const granted = await a.requestAddress({ pool: net1, node: twin, kind: 'endpoint' });

    const second = b.register(twin, info('vm-b'), { ttlSeconds: 5, retryMs: 100 });
    await expect.poll(() => second.state.state).toBe('waiting');
    const before = await dumpKeys(env.client, prefix);
    const message = await rejectsWith(
      b.requestAddress({ pool: net1, node: twin, kind: 'endpoint' }),
      'NOT_REGISTERED',
    );
    expect(message).toContain('NODE_ID twin is served by another kontena-ipam');
    expect(message).toContain(`instance ${first.instance} on host vm-a`);
    expect(message).toContain(`this one (instance ${second.instance} on host vm-b`);
    await rejectsWith(b.releasePool({ pool: net1, node: twin }), 'NOT_REGISTERED');
    await rejectsWith(
      b.releaseAddress({ pool: net1, node: twin, address: granted.address }),
      'NOT_REGISTERED',
    );
    // Nothing of the second instance reached etcd; the first still serves.
    expect(await dumpKeys(env.client, prefix)).toEqual(before);
    const next = await a.requestAddress({ pool: net1, node: twin, kind: 'endpoint' });
    expect(next.address).not.toEqual(granted.address);
    expect(first.state.state).toBe('serving');
    expect(second.state.state).toBe('waiting');

    // A clean stop revokes the lease: the waiting instance serves at once (within its retry).
    await first.stop();
    await second.serving();
    const third = await b.requestAddress({ pool: net1, node: twin, kind: 'endpoint' });
    expect([granted.address, next.address]).not.toContainEqual(third.address);
    expect(await addressKeys(env.client, prefix)).toHaveLength(4); // gateway + 3
    await second.stop();
  });

  test('an instance whose lease lapsed commits nothing after another one took over', async ({
    env,
  }) => {
    const { prefix, a, b } = twoStores(env);
    const first = a.register(twin, info('vm-a'), { ttlSeconds: 2, retryMs: 100 });
    await first.serving();
    await a.requestPool({ network: net1, node: twin, subnet: net('10.51.0.0/24') });
    // The first one's registration goes as if its lease had expired while it was frozen (its
    // keepalives still run here, so delete the key the way the expiry would), and the second
    // registers: the first's local state still says it serves when it next writes.
    await env.client.delete().key(`${prefix}v2/nodes/twin`);
    const second = b.register(twin, info('vm-b'), { ttlSeconds: 2, retryMs: 100 });
    await second.serving();
    const before = await addressKeys(env.client, prefix);
    await rejectsWith(
      a.requestAddress({ pool: net1, node: twin, kind: 'endpoint' }),
      'NOT_REGISTERED',
    );
    await rejectsWith(
      a.requestAddress({ pool: net1, node: twin, kind: 'endpoint', address: ip('10.51.0.77') }),
      'NOT_REGISTERED',
    );
    expect(await addressKeys(env.client, prefix)).toEqual(before);
    // It noticed: it does not serve, and waits for the other instance.
    await expect.poll(() => first.state.state).toBe('waiting');
    await second.stop();
    await first.serving();
    await first.stop();
  });

  test('a crashed instance (no clean stop, no keepalive) is replaced within the TTL', async ({
    env,
  }) => {
    const { a, b } = twoStores(env);
    const first = a.register(twin, info('vm-a'), { ttlSeconds: 1, retryMs: 100 });
    await first.serving();
    const second = b.register(twin, info('vm-a'), { ttlSeconds: 1, retryMs: 100 });
    await expect.poll(() => second.state.state).toBe('waiting');
    crash(first); // what a SIGKILL leaves: keepalives stop, nothing is revoked
    await second.serving();
    await b.requestPool({ network: net1, node: twin, subnet: net('10.52.0.0/24') });
    await second.stop();
    await first.stop();
  });

  test('an instance that gave its lease up while etcd kept it (a lost quorum) registers again and writes', async ({
    env,
  }) => {
    const { prefix, a } = twoStores(env);
    const reg = a.register(twin, info('vm-a'), { ttlSeconds: 5, retryMs: 100 });
    await reg.serving();
    const key = `${prefix}v2/nodes/twin`;
    const before = JSON.parse((await env.client.get(key).string()) ?? '{}') as { lease: string };
    // What the watchdog does when no keepalive is answered for a TTL: without a quorum etcd
    // revokes nothing, so the key (and its lease) are still there when the quorum is back.
    (reg as unknown as { lapsed(reason: string): void }).lapsed('no keepalive answered (test)');
    await reg.serving();
    await a.requestPool({ network: net1, node: twin, subnet: net('10.56.0.0/24') });
    const granted = await a.requestAddress({ pool: net1, node: twin, kind: 'endpoint' });
    expect(await addressKeys(env.client, prefix)).toContain(
      `addresses/net1/${formatAddress(granted.address)}`,
    );
    const after = JSON.parse((await env.client.get(key).string()) ?? '{}') as { lease: string };
    expect(after.lease).not.toBe(before.lease);
    await reg.stop();
  });

  test('a registration left by a process of this machine that is gone is taken over at once', async ({
    env,
  }) => {
    const { prefix, a, b } = twoStores(env);
    const here = { bootId: 'boot-1', pidNamespace: 'pid:[1]' };
    const first = a.register(
      twin,
      { ...info('vm-a', 4242), ...here, processStart: '77' },
      {
        ttlSeconds: 30,
      },
    );
    await first.serving();
    crash(first); // as a SIGKILL would: the key stays for its 30 s
    const gone = (pid: number) => (pid === 4242 ? undefined : '1');
    const second: NodeRegistration = b.register(
      twin,
      { ...info('vm-a', 5000), ...here },
      {
        ttlSeconds: 30,
        retryMs: 100,
        provablyDead: (holder) => holder.bootId === here.bootId && gone(holder.pid) === undefined,
      },
    );
    await second.serving();
    expect(
      JSON.parse((await env.client.get(`${prefix}v2/nodes/twin`).string()) ?? '{}'),
    ).toMatchObject({
      instance: second.instance,
      pid: 5000,
    });
    await second.stop();
  });
});

describe('operator fences', () => {
  test('forgetting a host (actAs absent) writes nothing while it is registered', async ({
    env,
  }) => {
    const { prefix, a, b } = twoStores(env);
    const alive = node('alive');
    const reg = a.register(alive, info('vm-alive'), { ttlSeconds: 5 });
    await reg.serving();
    await a.requestPool({ network: net1, node: alive, subnet: net('10.53.0.0/24') });
    await a.requestAddress({ pool: net1, node: alive, kind: 'endpoint' });
    const before = await dumpKeys(env.client, prefix);
    b.actAs(alive, { absent: true });
    const message = await rejectsWith(b.dropHold({ pool: net1, node: alive }), 'NODE_LIVE');
    expect(message).toContain(`node alive registered again (instance ${reg.instance}`);
    expect(await dumpKeys(env.client, prefix)).toEqual(before);
    // Once it is gone (a clean stop), the same fence lets the forget through.
    await reg.stop();
    await b.dropHold({ pool: net1, node: alive });
    expect(
      Object.keys(await dumpKeys(env.client, prefix)).filter((k) => k.startsWith('pools/')),
    ).toEqual([]);
  });

  test('a tool acting beside the live instance (actAs held) stops when the registration changes', async ({
    env,
  }) => {
    const { prefix, a, b } = twoStores(env);
    const reg = a.register(twin, info('vm-a'), { ttlSeconds: 5 });
    await reg.serving();
    await a.requestPool({ network: net1, node: twin, subnet: net('10.54.0.0/24') });
    const granted = await a.requestAddress({ pool: net1, node: twin, kind: 'endpoint' });
    const held = await b.registration(twin);
    expect(held?.instance).toBe(reg.instance);
    b.actAs(twin, { held: held as NonNullable<typeof held> });
    // The registration changes (the plugin restarted): the tool's writes are refused.
    await reg.stop();
    const again = a.register(twin, info('vm-a'), { ttlSeconds: 5 });
    await again.serving();
    const [record] = await b.listAddresses({ pool: net1, node: twin });
    await rejectsWith(
      b.releaseAddressIfUnchanged({
        pool: net1,
        address: granted.address,
        modRevision: (record as NonNullable<typeof record>).modRevision,
        node: twin,
      }),
      'NOT_REGISTERED',
    );
    expect(await addressKeys(env.client, prefix)).toContain(
      `addresses/net1/${formatAddress(granted.address)}`,
    );
    await again.stop();
  });

  test('listHosts says who is live, since when, and what each host owns', async ({ env }) => {
    const { a } = twoStores(env);
    const live = a.register(node('h-live'), info('vm-1'), { ttlSeconds: 5 });
    const gone = a.register(node('h-gone'), info('vm-2'), { ttlSeconds: 5 });
    await Promise.all([live.serving(), gone.serving()]);
    await a.requestPool({ network: net1, node: node('h-live'), subnet: net('10.55.0.0/24') });
    await a.requestAddress({ pool: net1, node: node('h-live'), kind: 'endpoint' });
    await gone.stop();
    const hosts = await a.listHosts();
    expect(hosts.map((h) => [h.node, h.live?.instance, h.addresses, h.pools])).toEqual([
      ['h-gone', undefined, 0, []],
      ['h-live', live.instance, 2, ['net1']], // gateway + one endpoint are recorded as its
    ]);
    const goneRow = hosts[0] as (typeof hosts)[number];
    expect(goneRow.last?.stoppedAt).toBeDefined();
    expect(goneRow.since).toBe(goneRow.last?.stoppedAt);
    await live.stop();
  });
});
