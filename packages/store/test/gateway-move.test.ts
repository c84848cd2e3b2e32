/**
 * `docker network create --gateway X`: Docker asks RequestPool (we answer the default
 * gateway), then RequestAddress(gateway, X). The pool's gateway moves to X in one transaction
 * when the asking host alone holds the pool and X is a free host address of the subnet;
 * otherwise POOL_MISMATCH naming both gateways, and nothing is written.
 */
import { formatAddress } from '@kontena-ipam/cidr';
import { describe, expect } from 'vitest';
import {
  claimsIn,
  invariantProblems,
  ip,
  net,
  node,
  pool,
  rejectsWith,
  test,
  withoutClaims,
} from './harness.js';

const A = node('node-a');
const B = node('node-b');
const K = pool('gw');

describe('moving the gateway', () => {
  test('the only holder asking for X: pool, old and new gateway records change in one transaction', async ({
    setup,
  }) => {
    const { store, dump, keys } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.86.0.0/24') });
    const before = await dump();
    const r0 = await store.revision();
    const g = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'gateway',
      address: ip('10.86.0.254'),
    });
    expect(g).toMatchObject({ pool: 'gw', node: 'node-a', kind: 'gateway' });
    expect(formatAddress(g.address)).toBe('10.86.0.254');
    // One transaction: the revision moved by exactly one.
    expect(await store.revision()).toBe(r0 + 1n);
    expect(Object.values(claimsIn(await dump(), 'gw'))).toEqual(['node-a']);
    expect(withoutClaims(await keys())).toEqual([
      'addresses/gw/10.86.0.254',
      'guard/subnets',
      'holds/gw/node-a',
      'pools/gw',
      'subnets/10.86.0.0/24',
    ]);
    const after = await dump();
    expect(after['pools/gw']).toEqual({
      ...(before['pools/gw'] as object),
      gateway: '10.86.0.254',
      tokens: expect.any(Array),
    });
    expect(after['addresses/gw/10.86.0.254']).toMatchObject({ node: 'node-a', kind: 'gateway' });
    expect(invariantProblems(after)).toEqual([]);

    // Asking again (Docker on a retry) is the same answer and writes nothing.
    const r1 = await store.revision();
    const again = await store.requestAddress({
      pool: K,
      node: A,
      kind: 'gateway',
      address: ip('10.86.0.254'),
    });
    expect(again.address).toEqual(g.address);
    expect(await store.revision()).toBe(r1);

    // Other hosts joining later get X; dynamic addresses never hand out X, and may use .1.
    const joined = await store.requestPool({ network: K, node: B, subnet: net('10.86.0.0/24') });
    expect(formatAddress(joined.gateway)).toBe('10.86.0.254');
    const seen = new Set<string>();
    for (let i = 0; i < 253; i++) {
      const a = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
      seen.add(formatAddress(a.address));
    }
    expect(seen.has('10.86.0.254')).toBe(false);
    expect(seen.has('10.86.0.1')).toBe(true);
    expect(seen.size).toBe(253);
    await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'endpoint' }),
      'POOL_EXHAUSTED',
    );

    await store.releasePool({ pool: K, node: B });
    expect(await store.releasePool({ pool: K, node: A })).toEqual({
      removed: true,
      released: true,
    });
    expect(await keys()).toEqual(['guard/subnets']);
  });

  test('another host following the pool sees the moved gateway, for its own gateway request too', async ({
    env,
    setup,
  }) => {
    const { prefix, store } = setup();
    const other = env.store({ prefix, client: env.newClient() });
    await store.requestPool({ network: K, node: A, subnet: net('10.87.0.0/24') });
    // B's view of the pool is loaded before the move (a gateway request writes nothing: B
    // takes no hold; an endpoint address would give it one, and then the move is refused).
    await other.requestAddress({ pool: K, node: B, kind: 'gateway' });
    await store.requestAddress({ pool: K, node: A, kind: 'gateway', address: ip('10.87.0.200') });
    const g = await other.requestAddress({ pool: K, node: B, kind: 'gateway' });
    expect(formatAddress(g.address)).toBe('10.87.0.200');
    expect(g).toMatchObject({ kind: 'gateway', node: 'node-a' });
  });

  test('refused with POOL_MISMATCH naming both gateways, nothing written, when it cannot move', async ({
    setup,
  }) => {
    const { store, dump } = setup();
    await store.requestPool({ network: K, node: A, subnet: net('10.88.0.0/24') });
    await store.requestAddress({ pool: K, node: A, kind: 'endpoint', address: ip('10.88.0.7') });
    const before = await dump();
    // Taken by an endpoint.
    let msg = await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'gateway', address: ip('10.88.0.7') }),
      'POOL_MISMATCH',
    );
    expect(msg).toContain('has gateway 10.88.0.1, not 10.88.0.7');
    expect(msg).toContain('10.88.0.7 is taken by node node-a (endpoint)');
    // Not a host address of the subnet, or outside it.
    for (const bad of ['10.88.0.255', '10.88.0.0', '10.89.0.1']) {
      msg = await rejectsWith(
        store.requestAddress({ pool: K, node: A, kind: 'gateway', address: ip(bad) }),
        'POOL_MISMATCH',
      );
      expect(msg).toContain(`not ${bad}`);
      expect(msg).toContain('not a host address of subnet 10.88.0.0/24');
    }
    // A host that does not hold the pool.
    msg = await rejectsWith(
      store.requestAddress({ pool: K, node: B, kind: 'gateway', address: ip('10.88.0.9') }),
      'POOL_MISMATCH',
    );
    expect(msg).toContain('held by other hosts too (node-a)');
    expect(await dump()).toEqual(before);
    // Held by two hosts: the other one may already use the old gateway.
    await store.requestPool({ network: K, node: B, subnet: net('10.88.0.0/24') });
    const held = await dump();
    msg = await rejectsWith(
      store.requestAddress({ pool: K, node: A, kind: 'gateway', address: ip('10.88.0.254') }),
      'POOL_MISMATCH',
    );
    expect(msg).toBe(
      'network gw has gateway 10.88.0.1, not 10.88.0.254, and cannot move it: the pool is held by other hosts too (node-b)',
    );
    expect(await dump()).toEqual(held);
  });

  test('racing an allocation of X: exactly one of them gets it, nothing half-written', async ({
    env,
    setup,
  }) => {
    for (let round = 0; round < 5; round++) {
      const { prefix, store, dump } = setup();
      const other = env.store({ prefix, client: env.newClient() });
      const subnet = net(`10.9${round}.0.0/24`);
      const x = ip(`10.9${round}.0.100`);
      await store.requestPool({ network: K, node: A, subnet });
      const [gateway, endpoint] = await Promise.allSettled([
        store.requestAddress({ pool: K, node: A, kind: 'gateway', address: x }),
        other.requestAddress({ pool: K, node: B, kind: 'endpoint', address: x }),
      ]);
      const state = await dump();
      expect(invariantProblems(state)).toEqual([]);
      const record = state[`addresses/gw/10.9${round}.0.100`] as { kind: string };
      const pool = state['pools/gw'] as { gateway: string };
      if (gateway.status === 'fulfilled') {
        expect(endpoint.status).toBe('rejected');
        expect(record.kind).toBe('gateway');
        expect(pool.gateway).toBe(`10.9${round}.0.100`);
        expect(`addresses/gw/10.9${round}.0.1` in state).toBe(false);
      } else {
        expect(endpoint.status).toBe('fulfilled');
        expect(record.kind).toBe('endpoint');
        expect(pool.gateway).toBe(`10.9${round}.0.1`);
      }
    }
  });
});
