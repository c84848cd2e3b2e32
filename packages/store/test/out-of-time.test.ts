/**
 * A call whose budget runs out before it could ask etcd says what really happened, instead of
 * blaming etcd with "no member answered within 0 ms (0 attempts)" (issue #22): the allocation
 * that waited for this host's own allocations in flight, and any etcd call that starts with
 * nothing left.
 */
import { describe, expect } from 'vitest';
import { Budget } from '../src/index.js';
import { net, node, pool, rejectsWith, test, uniquePrefix } from './harness.js';

const K = pool('kontena');
const A = node('host-a');

describe('out of time', () => {
  test("an allocation that waits for this host's own allocations in flight stops at its budget and says it was waiting", async ({
    env,
  }) => {
    const store = env.store({ prefix: uniquePrefix() });
    // One free address: the gateway takes .1 of the /30, .2 is the pool's only other one.
    await store.requestPool({ network: K, node: A, subnet: net('10.97.0.0/30') });
    const first = await store.requestAddress({ pool: K, node: A, kind: 'endpoint' });
    await store.releaseAddress({ pool: K, node: A, address: first.address });
    env.etcd.freezeMember('m0');
    try {
      // This one takes .2 and waits on the frozen etcd with it ...
      const onWire = store.requestAddress(
        { pool: K, node: A, kind: 'endpoint' },
        Budget.within(8000),
      );
      // Its steps up to the wire are promise callbacks, all run before the next turn of the loop.
      await new Promise((resolve) => setImmediate(resolve));
      // ... so this one finds nothing free but that candidate in flight, and waits for it.
      const message = await rejectsWith(
        store.requestAddress({ pool: K, node: A, kind: 'endpoint' }, Budget.within(300)),
        'UNAVAILABLE',
      );
      expect(message).toBe(
        "request address: the call's time ran out while waiting for this host's 1 other allocations in network kontena to settle (no address was free meanwhile)",
      );
      env.etcd.thawMember('m0');
      // The one on the wire commits once etcd answers.
      expect((await onWire).address).toEqual(first.address);
    } finally {
      env.etcd.thawMember('m0');
    }
  });

  test('an etcd call that starts with its budget spent says so, naming the endpoint, not "0 attempts"', async ({
    env,
  }) => {
    const store = env.store({ prefix: uniquePrefix() });
    const spent = Budget.until(Date.now() - 1);
    const message = await rejectsWith(store.dropHold({ pool: K, node: A }, spent), 'UNAVAILABLE');
    expect(message).toBe(
      `release pool: the call's time ran out before it reached etcd at ${env.etcd.endpoint}`,
    );
  });
});
