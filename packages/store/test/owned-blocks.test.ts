/**
 * A host's block bookkeeping (views/owned-blocks.ts) with no etcd: which addresses of its blocks
 * it hands out, what marking taken or free does, and which run of blocks its next claim asks
 * for. The same rules end to end, on a real etcd: blocks.test.ts.
 */
import {
  addressAt,
  addressEquals,
  formatAddress,
  type IpAddress,
  offsetOf,
  parseAddress,
  parseSubnet,
} from '@kontena-ipam/cidr';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { BLOCK_SIZE, BlockGeometry } from '../src/layout/blocks.js';
import { OwnedBlocks } from '../src/views/owned-blocks.js';

const window = parseSubnet('10.9.0.0/22'); // 1,024 offsets: 64 blocks
const geometry = new BlockGeometry(window);
const gateway = parseAddress('10.9.0.1');
/** Never handed out: the window's network and broadcast, and the gateway. */
const reserved = (a: IpAddress): boolean =>
  addressEquals(a, gateway) || a.value === window.network || a.value === window.network + 1023n;
const owned = () => new OwnedBlocks(geometry, reserved);
const at = (offset: number): IpAddress => addressAt(window, BigInt(offset));
const offset = (a: IpAddress): number => Number(offsetOf(window, a));

/** drain takes every address the blocks still hand out. */
function drain(blocks: OwnedBlocks): IpAddress[] {
  const out: IpAddress[] = [];
  for (let a = blocks.take(); a; a = blocks.take()) out.push(a);
  return out;
}

const blockIndex = fc.integer({ min: 0, max: geometry.count - 1 });

describe('handing out', () => {
  test('every free address of a held block once, none reserved, none present, none pending', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(blockIndex, { minLength: 1, maxLength: 6 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { maxLength: 40 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { maxLength: 10 }),
        (indexes, presentOffsets, pendingOffsets) => {
          const blocks = owned();
          const pending = new Set(pendingOffsets.map((o) => at(o).value));
          for (const index of indexes) blocks.adopt(index, presentOffsets.map(at), pending);
          const handed = drain(blocks);
          const expected = indexes.flatMap((index) =>
            geometry
              .addresses(index)
              .filter((a) => !reserved(a))
              .filter((a) => !presentOffsets.includes(offset(a)) && !pending.has(a.value)),
          );
          expect(handed.map(formatAddress).sort()).toEqual(expected.map(formatAddress).sort());
          expect(blocks.full).toBe(true);
        },
      ),
    );
  });

  test('a block is used up before the next one is touched, oldest first', () => {
    const blocks = owned();
    blocks.adopt(5, [], new Set());
    blocks.adopt(2, [], new Set());
    const handed = drain(blocks).map((a) => geometry.indexOf(offset(a)));
    expect(handed).toEqual([
      ...Array<number>(BLOCK_SIZE).fill(5),
      ...Array<number>(BLOCK_SIZE).fill(2),
    ]);
  });

  test('adopting a block held already changes nothing', () => {
    const blocks = owned();
    blocks.adopt(3, [], new Set());
    const first = blocks.take();
    blocks.adopt(3, [], new Set());
    expect(drain(blocks)).toHaveLength(BLOCK_SIZE - 1);
    expect(first && geometry.indexOf(offset(first))).toBe(3);
  });
});

describe('marking', () => {
  test('an address freed in a held block is handed out again; a reserved one never', () => {
    const blocks = owned();
    blocks.adopt(0, [], new Set());
    expect(drain(blocks)).toHaveLength(BLOCK_SIZE - 2); // network and gateway are reserved
    blocks.mark(at(7), 7, false);
    blocks.mark(gateway, 1, false);
    blocks.mark(at(0), 0, false);
    expect(drain(blocks).map(formatAddress)).toEqual(['10.9.0.7']);
  });

  test('marking taken removes an address from what is handed out; outside held blocks nothing happens', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1023 }), (o) => {
        const blocks = owned();
        blocks.adopt(10, [], new Set());
        blocks.mark(at(o), o, true);
        const handed = drain(blocks).map(offset);
        expect(handed.includes(o)).toBe(false);
        expect(handed).toHaveLength(BLOCK_SIZE - (geometry.indexOf(o) === 10 ? 1 : 0));
      }),
    );
  });

  test('takenAddresses are what the host knows taken in its blocks (for a shared view)', () => {
    const blocks = owned();
    blocks.adopt(1, [at(17), at(18)], new Set([at(20).value]));
    blocks.take(); // 16
    expect(blocks.takenAddresses().map(offset)).toEqual([16, 17, 18, 20]);
  });
});

describe('choosing a run to claim', () => {
  test('a run never includes a held block, a present one, or runs past the window', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(blockIndex, { maxLength: 20 }),
        fc.uniqueArray(blockIndex, { maxLength: 20 }),
        blockIndex,
        fc.integer({ min: 1, max: 6 }),
        (held, present, from, want) => {
          const blocks = owned();
          for (const index of held) blocks.adopt(index, [], new Set());
          const taken = new Set(present);
          for (const run of [
            blocks.runFrom(from, want, taken),
            blocks.randomRun(from, want),
            blocks.freeRun(taken, from, 64, want),
            blocks.firstRun(from, want),
          ]) {
            expect(run.length).toBeLessThanOrEqual(want);
            for (const index of run) {
              expect(index).toBeLessThan(geometry.count);
              expect(blocks.has(index)).toBe(false);
            }
            // Consecutive indexes.
            expect(run).toEqual(run.map((_, i) => (run[0] as number) + i));
          }
          for (const index of blocks.runFrom(from, want, taken))
            expect(taken.has(index)).toBe(false);
          for (const index of blocks.freeRun(taken, from, 64, want)) {
            expect(taken.has(index)).toBe(false);
          }
        },
      ),
    );
  });

  test('the first claim starts at the host’s place; later ones right after its newest block', () => {
    const blocks = owned();
    expect(blocks.firstRun(40, 3)).toEqual([40, 41, 42]);
    blocks.adopt(40, [], new Set());
    blocks.adopt(41, [], new Set());
    expect(blocks.firstRun(7, 2)).toEqual([42, 43]);
    // The newest is the last block of the window: start over at the host's place.
    blocks.adopt(63, [], new Set());
    expect(blocks.firstRun(7, 2)).toEqual([0, 1]);
  });

  test('freeRun finds the first free run in the probe, or none', () => {
    const blocks = owned();
    blocks.adopt(2, [], new Set());
    expect(blocks.freeRun(new Set([0, 1, 4]), 0, 64, 3)).toEqual([3]);
    expect(blocks.freeRun(new Set([0, 1, 3, 5, 6]), 0, 7, 3)).toEqual([4]);
    const all = new Set(Array.from({ length: geometry.count }, (_, i) => i));
    expect(blocks.freeRun(all, 0, 64, 3)).toEqual([]);
  });

  test('a claim asks for what the waiting callers need and what the host holds, at most the cap', () => {
    const blocks = owned();
    expect(blocks.claimSize(1, 6)).toBe(1);
    expect(blocks.claimSize(33, 6)).toBe(3);
    for (const index of [1, 2, 3, 4]) blocks.adopt(index, [], new Set());
    expect(blocks.claimSize(1, 6)).toBe(4);
    expect(blocks.claimSize(500, 6)).toBe(6);
  });
});
