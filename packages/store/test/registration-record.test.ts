/** The registration decisions as pure functions: no etcd, milliseconds. */
import type { IKeyValue } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  decideRegistration,
  type HostRecord,
  sameProcessGone,
} from '../src/layout/registration-record.js';
import type { NodeId } from '../src/types.js';

const holder: HostRecord = {
  node: 'twin' as NodeId,
  instance: 'other',
  lease: '1a',
  hostname: 'vm-a',
  bootId: 'boot-1',
  pidNamespace: 'pid:[1]',
  pid: 4242,
  processStart: '77',
  version: '0.0.0',
  startedAt: '2026-12-06T00:00:00.000Z',
};

const kvOf = (value: string, mod = '9'): IKeyValue =>
  ({
    key: Buffer.from('/p/v2/nodes/twin'),
    value: Buffer.from(value),
    mod_revision: mod,
  }) as IKeyValue;

describe('decideRegistration', () => {
  it('retries when the key is gone, and knows its own earlier attempt', () => {
    expect(decideRegistration(undefined, 'me', () => false)).toEqual({ kind: 'retry' });
    expect(
      decideRegistration(kvOf(JSON.stringify({ ...holder, instance: 'me' })), 'me', () => true),
    ).toEqual({ kind: 'ours' });
  });

  it('waits for a live holder and takes over from a provably dead one at its revision', () => {
    const kv = kvOf(JSON.stringify(holder), '12');
    expect(decideRegistration(kv, 'me', () => false)).toEqual({ kind: 'wait', holder });
    expect(decideRegistration(kv, 'me', () => true)).toEqual({
      kind: 'take-over',
      holder,
      modRevision: 12n,
    });
  });

  it('waits out an unreadable registration (its lease still ends it)', () => {
    const d = decideRegistration(kvOf('{nope'), 'me', () => true);
    expect(d.kind).toBe('wait');
  });
});

describe('sameProcessGone', () => {
  const here = { bootId: 'boot-1', pidNamespace: 'pid:[1]' };
  it('proves death only on this boot and pid namespace', () => {
    const none = () => undefined;
    expect(sameProcessGone(holder, here, none)).toBe(true);
    // A clone (another boot id) or a container restarted into a new pid namespace proves nothing.
    expect(sameProcessGone(holder, { ...here, bootId: 'boot-2' }, none)).toBe(false);
    expect(sameProcessGone(holder, { ...here, pidNamespace: 'pid:[2]' }, none)).toBe(false);
    expect(sameProcessGone(holder, {}, none)).toBe(false);
  });

  it('tells a reused pid from the holder still running', () => {
    expect(sameProcessGone(holder, here, () => '77')).toBe(false);
    expect(sameProcessGone(holder, here, () => '78')).toBe(true);
    // Without a recorded start time, a running pid is taken to be the holder.
    expect(sameProcessGone({ ...holder, processStart: undefined }, here, () => '78')).toBe(false);
  });
});
