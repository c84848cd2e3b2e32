import fc from 'fast-check';
import { Address4, Address6 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import {
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
});
