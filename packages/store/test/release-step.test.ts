/**
 * What a release of a pool decides from its reads (release-rules.ts releaseStep), and how it
 * tells after a lost compare that an earlier attempt of its own committed (releaseLanded, the
 * rule of etcd/tokens.ts); no etcd. The same, end to end: pools.test.ts and undo.test.ts.
 */
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import type { IKeyValue } from 'etcd3';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { deleteLanded, newToken, putLanded } from '../src/etcd/tokens.js';
import { encodeHold, type HoldState, type PoolRecord } from '../src/layout/records.js';
import { type HoldsToDrop, releaseLanded, releaseStep } from '../src/transitions/release-rules.js';
import { parsePoolId } from '../src/types.js';

const pool: PoolRecord = {
  id: parsePoolId('p'),
  subnet: parseSubnet('10.1.0.0/24'),
  ipRange: undefined,
  gateway: parseAddress('10.1.0.1'),
  dynamic: true,
  createdAt: '2024-01-01T00:00:00.000Z',
  tokens: [],
  createRevision: 5n,
  modRevision: 5n,
};
const holdKey = '/h/p/me';
const hold = (count: number, cni = false): HoldState => ({
  count,
  cni,
  tokens: [],
  createRevision: 7n,
  modRevision: 9n,
});
const kv = (key: string, value: string, createRevision: bigint): IKeyValue =>
  ({
    key: Buffer.from(key),
    value: Buffer.from(value),
    create_revision: createRevision.toString(),
    mod_revision: createRevision.toString(),
    version: '1',
    lease: '0',
  }) as IKeyValue;

describe('releaseStep', () => {
  const drops: HoldsToDrop[] = ['one', 'all'];

  test('no pool: gone; no hold of this host: unchanged, whatever else was read', () => {
    fc.assert(
      fc.property(fc.constantFrom(...drops), fc.array(fc.string()), (drop, holders) => {
        expect(releaseStep({ pool: undefined, hold: hold(2), holders, holdKey, drop })).toEqual({
          step: 'gone',
        });
        expect(releaseStep({ pool, hold: undefined, holders, holdKey, drop })).toEqual({
          step: 'unchanged',
        });
      }),
    );
  });

  test('one hold less while more are left; the last one leaves (naming another holder) or removes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...drops),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        (drop, count, other) => {
          const holders = other ? [holdKey, '/h/p/other'] : [holdKey];
          const step = releaseStep({ pool, hold: hold(count), holders, holdKey, drop });
          const left = drop === 'all' ? 0 : count - 1;
          if (left > 0) expect(step).toMatchObject({ step: 'decrement', left });
          else if (other) expect(step).toMatchObject({ step: 'leave', witness: '/h/p/other' });
          else expect(step).toMatchObject({ step: 'remove' });
        },
      ),
    );
  });

  test("the CNI attachments' last reference is not Docker's to give back; cleanup's drop takes it", () => {
    const cniOnly = { pool, hold: hold(1, true), holders: [holdKey], holdKey };
    expect(releaseStep({ ...cniOnly, drop: 'one' })).toEqual({ step: 'unchanged' });
    expect(releaseStep({ ...cniOnly, drop: 'all' })).toMatchObject({ step: 'remove' });
    expect(releaseStep({ ...cniOnly, hold: hold(2, true), drop: 'one' })).toMatchObject({
      step: 'decrement',
      left: 1,
    });
  });
});

describe('did an earlier attempt of mine commit?', () => {
  test('a put is mine when the record carries my token', () => {
    const token = newToken();
    expect(putLanded(token, token)).toBe(true);
    expect(putLanded(token, ['a', token])).toBe(true);
    expect(putLanded(token, newToken())).toBe(false);
    expect(putLanded(token, [])).toBe(false);
    expect(putLanded(token, undefined)).toBe(false);
  });

  test('a delete is mine when the key is gone or made again since; never when none was decided', () => {
    expect(deleteLanded(7n, undefined)).toBe(true);
    expect(deleteLanded(7n, kv('k', 'v', 8n))).toBe(true);
    expect(deleteLanded('7', kv('k', 'v', 7n))).toBe(false);
    expect(deleteLanded(undefined, undefined)).toBe(false);
  });

  test('a release applies the rule to what its last write tried', () => {
    const token = newToken();
    const poolKv = kv('/p', '{}', 5n);
    const ours = kv(holdKey, encodeHold({ count: 1, tokens: [token] }), 7n);
    const theirs = kv(holdKey, encodeHold({ count: 1, tokens: [newToken()] }), 7n);
    expect(releaseLanded(undefined, undefined, undefined)).toBe(false);
    expect(releaseLanded({ step: 'decrement', token }, poolKv, ours)).toBe(true);
    expect(releaseLanded({ step: 'decrement', token }, poolKv, theirs)).toBe(false);
    expect(releaseLanded({ step: 'decrement', token }, poolKv, undefined)).toBe(false);
    expect(releaseLanded({ step: 'leave', decidedOn: 7n }, poolKv, theirs)).toBe(false);
    expect(releaseLanded({ step: 'leave', decidedOn: 7n }, poolKv, undefined)).toBe(true);
    expect(releaseLanded({ step: 'remove', decidedOn: 5n }, poolKv, undefined)).toBe(false);
    expect(releaseLanded({ step: 'remove', decidedOn: 5n }, kv('/p', '{}', 6n), ours)).toBe(true);
  });
});
