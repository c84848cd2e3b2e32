import { describe, expect, it } from 'vitest';
import {
  countFreeSubnets,
  firstFreeSubnet,
  formatSubnet,
  nthSubnet,
  parseSubnet,
  type Subnet,
} from '../src/index.js';
import { errorOf } from './error-of.js';

const s = (text: string) => parseSubnet(text);
const f = (subnet: Subnet | undefined) => (subnet === undefined ? undefined : formatSubnet(subnet));

describe('nthSubnet', () => {
  it('enumerates subnets of a supernet', () => {
    expect(f(nthSubnet(s('10.80.0.0/12'), 24, 0n))).toBe('10.80.0.0/24');
    expect(f(nthSubnet(s('10.80.0.0/12'), 24, 257n))).toBe('10.81.1.0/24');
    expect(f(nthSubnet(s('10.80.0.0/12'), 24, 4095n))).toBe('10.95.255.0/24');
    expect(f(nthSubnet(s('10.80.0.0/12'), 12, 0n))).toBe('10.80.0.0/12');
    expect(f(nthSubnet(s('0.0.0.0/0'), 32, (1n << 32n) - 1n))).toBe('255.255.255.255/32');
    expect(f(nthSubnet(s('fd00::/48'), 64, 65535n))).toBe('fd00:0:0:ffff::/64');
    expect(f(nthSubnet(s('::/0'), 128, (1n << 128n) - 1n))).toBe(
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128',
    );
  });

  it('rejects bad prefixes and indexes', () => {
    expect(errorOf(() => nthSubnet(s('10.80.0.0/12'), 8, 0n)).code).toBe('INVALID_PREFIX');
    expect(errorOf(() => nthSubnet(s('10.80.0.0/12'), 33, 0n)).code).toBe('INVALID_PREFIX');
    expect(errorOf(() => nthSubnet(s('10.80.0.0/12'), 24, 4096n)).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => nthSubnet(s('10.80.0.0/12'), 24, -1n)).message).toContain('-1');
  });
});

describe('firstFreeSubnet / countFreeSubnets', () => {
  const supernet = s('10.80.0.0/12');

  it('takes the first subnet when nothing is reserved', () => {
    expect(f(firstFreeSubnet(supernet, 24, []))).toBe('10.80.0.0/24');
    expect(countFreeSubnets(supernet, 24, [])).toBe(4096n);
  });

  it('skips a larger reserved block as a whole', () => {
    const reserved = [s('10.80.0.0/16')];
    expect(f(firstFreeSubnet(supernet, 24, reserved))).toBe('10.81.0.0/24');
    const withStatic = [s('10.80.0.0/24'), s('10.81.0.0/16'), s('10.80.1.0/24')];
    expect(f(firstFreeSubnet(supernet, 24, withStatic))).toBe('10.80.2.0/24');
    expect(f(firstFreeSubnet(s('10.80.0.0/15'), 24, [s('10.80.0.0/16'), s('10.81.0.0/16')]))).toBe(
      undefined,
    );
  });

  it('skips a candidate partly covered by a smaller reservation', () => {
    const reserved = [s('10.80.0.128/25'), s('10.80.1.7/32')];
    expect(f(firstFreeSubnet(supernet, 24, reserved))).toBe('10.80.2.0/24');
    expect(countFreeSubnets(supernet, 24, reserved)).toBe(4094n);
  });

  it('ignores other families and reservations outside the supernet', () => {
    const reserved = [s('fd00::/8'), s('10.0.0.0/16'), s('10.96.0.0/12'), s('::/0')];
    expect(f(firstFreeSubnet(supernet, 24, reserved))).toBe('10.80.0.0/24');
    expect(countFreeSubnets(supernet, 24, reserved)).toBe(4096n);
  });

  it('handles a reservation covering the supernet', () => {
    expect(firstFreeSubnet(supernet, 24, [s('10.0.0.0/8')])).toBeUndefined();
    expect(countFreeSubnets(supernet, 24, [s('10.0.0.0/8')])).toBe(0n);
    expect(firstFreeSubnet(s('0.0.0.0/0'), 0, [s('1.2.3.4/32')])).toBeUndefined();
    expect(f(firstFreeSubnet(s('0.0.0.0/0'), 0, []))).toBe('0.0.0.0/0');
  });

  it('works at the top of the address space', () => {
    const top = s('255.255.255.0/24');
    expect(
      f(
        firstFreeSubnet(top, 32, [
          s('255.255.255.0/25'),
          s('255.255.255.128/26'),
          s('255.255.255.192/27'),
        ]),
      ),
    ).toBe('255.255.255.224/32');
    expect(f(firstFreeSubnet(top, 25, [s('255.255.255.0/25')]))).toBe('255.255.255.128/25');
    expect(
      firstFreeSubnet(top, 25, [s('255.255.255.0/25'), s('255.255.255.255/32')]),
    ).toBeUndefined();
    const v6top = s('ffff:ffff:ffff:ffff::/64');
    expect(f(firstFreeSubnet(v6top, 65, [s('ffff:ffff:ffff:ffff::/65')]))).toBe(
      'ffff:ffff:ffff:ffff:8000::/65',
    );
    expect(countFreeSubnets(s('::/0'), 1, [s('8000::/1')])).toBe(1n);
  });

  it('sweeps IPv6 supernets too', () => {
    const reserved = [s('fd00::/64'), s('fd00:0:0:1::/64'), s('fd00:0:0:2::1/128')];
    expect(f(firstFreeSubnet(s('fd00::/48'), 64, reserved))).toBe('fd00:0:0:3::/64');
    expect(countFreeSubnets(s('fd00::/48'), 64, reserved)).toBe(65533n);
  });

  it('rejects a prefix shorter than the supernet, naming it', () => {
    const error = errorOf(() => firstFreeSubnet(supernet, 8, []));
    expect(error.code).toBe('INVALID_PREFIX');
    expect(error.message).toContain('10.80.0.0/12');
    expect(errorOf(() => countFreeSubnets(supernet, 40, [])).code).toBe('INVALID_PREFIX');
  });
});
