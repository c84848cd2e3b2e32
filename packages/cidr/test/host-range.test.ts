import { describe, expect, it } from 'vitest';
import {
  defaultGateway,
  formatAddress,
  hostRange,
  isHostAddress,
  parseAddress,
  parseSubnet,
} from '../src/index.js';

/** range renders hostRange as [first, last, count] text. */
function range(text: string): [string, string, bigint] {
  const r = hostRange(parseSubnet(text));
  return [formatAddress(r.first), formatAddress(r.last), r.count];
}

describe('hostRange', () => {
  it.each([
    ['10.81.0.0/16', '10.81.0.1', '10.81.255.254', 65534n],
    ['10.0.0.0/30', '10.0.0.1', '10.0.0.2', 2n],
    ['10.0.0.6/31', '10.0.0.6', '10.0.0.7', 2n],
    ['10.0.0.7/32', '10.0.0.7', '10.0.0.7', 1n],
    ['0.0.0.0/0', '0.0.0.1', '255.255.255.254', (1n << 32n) - 2n],
    ['255.255.255.0/24', '255.255.255.1', '255.255.255.254', 254n],
    ['255.255.255.254/31', '255.255.255.254', '255.255.255.255', 2n],
    ['fd00::/64', 'fd00::1', 'fd00::ffff:ffff:ffff:ffff', (1n << 64n) - 1n],
    ['fd00::/126', 'fd00::1', 'fd00::3', 3n],
    ['fd00::/127', 'fd00::', 'fd00::1', 2n],
    ['fd00::5/128', 'fd00::5', 'fd00::5', 1n],
    ['::/0', '::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', (1n << 128n) - 1n],
    [
      'ffff:ffff:ffff:ffff::/64',
      'ffff:ffff:ffff:ffff::1',
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      (1n << 64n) - 1n,
    ],
  ])('%s: hosts %s .. %s (%d)', (subnet, first, last, count) => {
    expect(range(subnet)).toEqual([first, last, count]);
  });
});

describe('isHostAddress / defaultGateway', () => {
  it('excludes network and broadcast but not on /31 and /32', () => {
    const net = parseSubnet('10.0.0.0/24');
    expect(isHostAddress(net, parseAddress('10.0.0.0'))).toBe(false);
    expect(isHostAddress(net, parseAddress('10.0.0.255'))).toBe(false);
    expect(isHostAddress(net, parseAddress('10.0.0.1'))).toBe(true);
    expect(isHostAddress(net, parseAddress('10.0.1.1'))).toBe(false);
    expect(isHostAddress(parseSubnet('10.0.0.0/31'), parseAddress('10.0.0.0'))).toBe(true);
    expect(isHostAddress(parseSubnet('10.0.0.0/31'), parseAddress('10.0.0.1'))).toBe(true);
    expect(isHostAddress(parseSubnet('10.0.0.1/32'), parseAddress('10.0.0.1'))).toBe(true);
  });

  it('excludes IPv6 subnet-router anycast but not on /127 and /128', () => {
    expect(isHostAddress(parseSubnet('fd00::/64'), parseAddress('fd00::'))).toBe(false);
    expect(isHostAddress(parseSubnet('fd00::/64'), parseAddress('fd00::ffff:ffff:ffff:ffff'))).toBe(
      true,
    );
    expect(isHostAddress(parseSubnet('fd00::/127'), parseAddress('fd00::'))).toBe(true);
    expect(isHostAddress(parseSubnet('fd00::/128'), parseAddress('fd00::'))).toBe(true);
    expect(isHostAddress(parseSubnet('fd00::/64'), parseAddress('10.0.0.1'))).toBe(false);
  });

  it('puts the gateway on the first host', () => {
    expect(formatAddress(defaultGateway(parseSubnet('10.81.0.0/16')))).toBe('10.81.0.1');
    expect(formatAddress(defaultGateway(parseSubnet('10.0.0.6/31')))).toBe('10.0.0.6');
    expect(formatAddress(defaultGateway(parseSubnet('10.0.0.7/32')))).toBe('10.0.0.7');
    expect(formatAddress(defaultGateway(parseSubnet('fd00::/64')))).toBe('fd00::1');
    expect(formatAddress(defaultGateway(parseSubnet('fd00::/128')))).toBe('fd00::');
  });
});
