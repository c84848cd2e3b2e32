import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  countFreeSubnets,
  firstFreeSubnet,
  nthSubnet,
  parseSubnet,
  type Subnet,
  subnetContains,
  subnetsOverlap,
} from '../src/index.js';

/** A reserved subnet near a small supernet: inside it, around it, or in the other family. */
function reservedArb(base: Subnet, bits: number): fc.Arbitrary<Subnet> {
  return fc.oneof(
    fc
      .record({
        prefix: fc.integer({ min: base.prefix - 2, max: bits }),
        at: fc.bigInt({ min: 0n, max: 1023n }),
      })
      .map(({ prefix, at }) => {
        const block = 1n << BigInt(bits - prefix);
        const network = ((base.network - 256n + at) / block) * block;
        return { family: base.family, network, prefix };
      }),
    fc.constant(parseSubnet(base.family === 4 ? 'fd00::/120' : '10.0.0.0/24')),
  );
}

/** bruteForce checks every candidate subnet one by one. */
function bruteForce(
  supernet: Subnet,
  prefix: number,
  reserved: Subnet[],
): { first?: Subnet; count: bigint } {
  let first: Subnet | undefined;
  let count = 0n;
  const n = 1n << BigInt(prefix - supernet.prefix);
  for (let k = 0n; k < n; k++) {
    const candidate = nthSubnet(supernet, prefix, k);
    if (reserved.some((r) => subnetsOverlap(r, candidate))) continue;
    first ??= candidate;
    count++;
  }
  return first === undefined ? { count } : { first, count };
}

describe('firstFreeSubnet / countFreeSubnets against brute force', () => {
  for (const [text, bits] of [
    ['10.0.1.0/24', 32],
    ['fd00::100/120', 128],
    ['255.255.255.0/24', 32],
  ] as const) {
    it(`agrees inside ${text}`, () => {
      const supernet = parseSubnet(text);
      fc.assert(
        fc.property(
          fc.integer({ min: supernet.prefix, max: bits }),
          fc.array(reservedArb(supernet, bits), { maxLength: 12 }),
          (prefix, raw) => {
            // Keep reservations inside the family's space (the top supernet has no room above).
            const reserved = raw.filter((r) => r.network >= 0n && r.network < 1n << BigInt(bits));
            const expected = bruteForce(supernet, prefix, reserved);
            const first = firstFreeSubnet(supernet, prefix, reserved);
            expect(first).toEqual(expected.first);
            expect(countFreeSubnets(supernet, prefix, reserved)).toBe(expected.count);
            if (first !== undefined) expect(subnetContains(supernet, first)).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it('does not depend on the order of the reserved list', () => {
    const supernet = parseSubnet('10.0.1.0/24');
    fc.assert(
      fc.property(
        fc.array(reservedArb(supernet, 32), { maxLength: 10 }),
        fc.integer({ min: 24, max: 30 }),
        (reserved, prefix) => {
          const reversed = [...reserved].reverse();
          expect(firstFreeSubnet(supernet, prefix, reversed)).toEqual(
            firstFreeSubnet(supernet, prefix, reserved),
          );
        },
      ),
    );
  });
});

describe('firstFreeSubnet / countFreeSubnets on supernets past 2^48 (BigInt sweep)', () => {
  it('agrees with brute force inside fd00::/64', () => {
    const supernet = parseSubnet('fd00::/64');
    const reservedBig = fc
      .record({ prefix: fc.integer({ min: 60, max: 90 }), k: fc.integer({ min: -40, max: 300 }) })
      .map(({ prefix, k }): Subnet => {
        const block = 1n << BigInt(128 - prefix);
        const at = supernet.network + BigInt(k) * (1n << 56n) + (BigInt(k) % 3n) * (1n << 40n);
        return { family: 6, network: (at / block) * block, prefix };
      });
    fc.assert(
      fc.property(
        fc.integer({ min: 64, max: 72 }),
        fc.array(reservedBig, { maxLength: 12 }),
        (prefix, reserved) => {
          const expected = bruteForce(supernet, prefix, reserved);
          expect(firstFreeSubnet(supernet, prefix, reserved)).toEqual(expected.first);
          expect(countFreeSubnets(supernet, prefix, reserved)).toBe(expected.count);
        },
      ),
      { numRuns: 200 },
    );
  });
});
