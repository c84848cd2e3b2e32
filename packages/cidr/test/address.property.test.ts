import fc from 'fast-check';
import { Address4, Address6 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import {
  CidrError,
  formatAddress,
  formatSubnet,
  isIPv4Mapped,
  parseAddress,
  parseSubnet,
} from '../src/index.js';

// ip-address serves as an independent oracle for RFC 5952 text.
describe('address text round trips', () => {
  it('IPv4: format then parse gives the value back, matching ip-address', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffffffffn }), (value) => {
        const text = formatAddress({ family: 4, value });
        expect(parseAddress(text).value).toBe(value);
        expect(text).toBe(Address4.fromBigInt(value).correctForm());
      }),
    );
  });

  it('IPv6: format is RFC 5952 (as ip-address writes it) and parses back', () => {
    const groups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
      minLength: 8,
      maxLength: 8,
    });
    fc.assert(
      fc.property(groups, (g) => {
        const value = g.reduce((v, x) => (v << 16n) | BigInt(x), 0n);
        const address = { family: 6 as const, value };
        const text = formatAddress(address);
        expect(parseAddress(text).value).toBe(value);
        expect(parseAddress(g.map((x) => x.toString(16).padStart(4, '0')).join(':')).value).toBe(
          value,
        );
        if (!isIPv4Mapped(address)) expect(text).toBe(Address6.fromBigInt(value).correctForm());
      }),
      { numRuns: 500 },
    );
  });

  it('subnets: normalize then format then parse is stable', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.integer({ min: 0, max: 128 }),
        (value, prefix) => {
          const text = `${formatAddress({ family: 6, value })}/${prefix}`;
          const subnet = parseSubnet(text, { normalize: true });
          expect(parseSubnet(formatSubnet(subnet))).toEqual(subnet);
        },
      ),
    );
  });

  it('IPv6: any valid spelling (any zero run compressed, padding, case, dotted tail) parses to the value', () => {
    const spelling = fc.record({
      groups: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
        minLength: 8,
        maxLength: 8,
      }),
      from: fc.integer({ min: 0, max: 8 }),
      length: fc.integer({ min: 0, max: 8 }),
      pad: fc.boolean(),
      upper: fc.boolean(),
      dotted: fc.boolean(),
    });
    fc.assert(
      fc.property(spelling, ({ groups, from, length, pad, upper, dotted }) => {
        const value = groups.reduce((v, x) => (v << 16n) | BigInt(x), 0n);
        const hex = groups.map((g) => {
          const h = g.toString(16);
          return upper
            ? (pad ? h.padStart(4, '0') : h).toUpperCase()
            : pad
              ? h.padStart(4, '0')
              : h;
        });
        const tail = dotted
          ? [`${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`]
          : hex.slice(6);
        const parts = [...hex.slice(0, 6), ...tail];
        const width = dotted ? 7 : 8; // the dotted quad is one part standing for two groups
        // Compress a run of zero parts (never inside the dotted quad), if the chosen run is all zero.
        const start = Math.min(from, width - 1);
        const end = Math.min(start + length, dotted ? 6 : 8);
        let text = parts.join(':');
        if (end > start && groups.slice(start, end).every((g) => g === 0)) {
          text = `${parts.slice(0, start).join(':')}::${parts.slice(end).join(':')}`;
        }
        expect(parseAddress(text).value).toBe(value);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws anything but a CidrError naming the input', () => {
    const nearMiss = fc.string({
      unit: fc.constantFrom(...'0123456789abcdefABCDEF:./%x -'.split('')),
      maxLength: 45,
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), nearMiss), (text) => {
        try {
          parseAddress(text);
        } catch (error) {
          expect(error).toBeInstanceOf(CidrError);
          expect((error as CidrError).message).toContain(JSON.stringify(text));
        }
        try {
          parseSubnet(text);
        } catch (error) {
          expect(error).toBeInstanceOf(CidrError);
          expect((error as CidrError).message).toContain(JSON.stringify(text));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
