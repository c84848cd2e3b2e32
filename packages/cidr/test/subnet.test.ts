import { describe, expect, it } from 'vitest';
import {
  addressAt,
  compareSubnets,
  formatAddress,
  formatSubnet,
  lastAddress,
  offsetOf,
  parseAddress,
  parseSubnet,
  subnetContains,
  subnetEquals,
  subnetSize,
  subnetsOverlap,
} from '../src/index.js';
import { errorOf } from './error-of.js';

const s = (text: string) => parseSubnet(text);
const a = (text: string) => parseAddress(text);

describe('parseSubnet / formatSubnet', () => {
  it.each([
    ['10.81.0.0/16', '10.81.0.0/16'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.0.0.7/32', '10.0.0.7/32'],
    ['10.0.0.6/31', '10.0.0.6/31'],
    ['255.255.255.0/24', '255.255.255.0/24'],
    ['fd00::/64', 'fd00::/64'],
    ['FD00:0::/64', 'fd00::/64'],
    ['::/0', '::/0'],
    ['fd00::1/128', 'fd00::1/128'],
    ['fd00::/127', 'fd00::/127'],
    ['ffff:ffff:ffff:ffff::/64', 'ffff:ffff:ffff:ffff::/64'],
  ])('round-trips %s', (text, canonical) => {
    expect(formatSubnet(parseSubnet(text))).toBe(canonical);
  });

  it('rejects host bits with a hint, unless asked to normalize', () => {
    const error = errorOf(() => parseSubnet('10.81.0.1/16'));
    expect(error.code).toBe('HOST_BITS_SET');
    expect(error.input).toBe('10.81.0.1/16');
    expect(error.message).toContain('"10.81.0.1/16"');
    expect(error.message).toContain('10.81.0.0/16');
    expect(formatSubnet(parseSubnet('10.81.0.1/16', { normalize: true }))).toBe('10.81.0.0/16');
    expect(formatSubnet(parseSubnet('fd00::1/64', { normalize: true }))).toBe('fd00::/64');
    expect(errorOf(() => parseSubnet('fd00::1/64')).code).toBe('HOST_BITS_SET');
    expect(formatSubnet(parseSubnet('255.255.255.255/0', { normalize: true }))).toBe('0.0.0.0/0');
  });

  it('rejects a missing prefix, a bad prefix and garbage, naming the input', () => {
    expect(errorOf(() => parseSubnet('10.0.0.0')).code).toBe('INVALID_SUBNET');
    expect(errorOf(() => parseSubnet('10.0.0.0/33')).code).toBe('INVALID_PREFIX');
    expect(errorOf(() => parseSubnet('fd00::/129')).code).toBe('INVALID_PREFIX');
    for (const text of ['', 'garbage/8', '10.0.0/8', '/8', 'fd00:::/64']) {
      const error = errorOf(() => parseSubnet(text));
      expect(error.code).toBe('INVALID_SUBNET');
      expect(error.message).toContain(JSON.stringify(text));
    }
  });

  it('keeps IPv4-mapped subnets in IPv6', () => {
    const mapped = parseSubnet('::ffff:10.0.0.0/104');
    expect(mapped.family).toBe(6);
    expect(formatSubnet(mapped)).toBe('::ffff:10.0.0.0/104');
    expect(subnetContains(s('10.0.0.0/8'), a('::ffff:10.0.0.1'))).toBe(false);
  });
});

describe('size, contains, overlaps, equality, order', () => {
  it('computes sizes from /0 to the full width', () => {
    expect(subnetSize(s('0.0.0.0/0'))).toBe(1n << 32n);
    expect(subnetSize(s('10.0.0.0/8'))).toBe(1n << 24n);
    expect(subnetSize(s('10.0.0.1/32'))).toBe(1n);
    expect(subnetSize(s('::/0'))).toBe(1n << 128n);
    expect(subnetSize(s('fd00::/64'))).toBe(1n << 64n);
    expect(subnetSize(s('fd00::/128'))).toBe(1n);
  });

  it('finds the last address, including at the top of the space', () => {
    expect(formatAddress(lastAddress(s('10.81.0.0/16')))).toBe('10.81.255.255');
    expect(formatAddress(lastAddress(s('255.255.255.0/24')))).toBe('255.255.255.255');
    expect(formatAddress(lastAddress(s('ffff:ffff:ffff:ffff::/64')))).toBe(
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    );
    expect(formatAddress(lastAddress(s('::/0')))).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  });

  it('contains subnets and addresses of its family only', () => {
    expect(subnetContains(s('10.80.0.0/12'), s('10.81.0.0/16'))).toBe(true);
    expect(subnetContains(s('10.81.0.0/16'), s('10.80.0.0/12'))).toBe(false);
    expect(subnetContains(s('10.81.0.0/16'), s('10.81.0.0/16'))).toBe(true);
    expect(subnetContains(s('10.81.0.0/16'), s('10.82.0.0/24'))).toBe(false);
    expect(subnetContains(s('0.0.0.0/0'), a('255.255.255.255'))).toBe(true);
    expect(subnetContains(s('10.81.0.0/16'), a('10.81.255.255'))).toBe(true);
    expect(subnetContains(s('10.81.0.0/16'), a('10.82.0.0'))).toBe(false);
    expect(subnetContains(s('::/0'), a('10.0.0.1'))).toBe(false);
    expect(subnetContains(s('0.0.0.0/0'), s('::/0'))).toBe(false);
    expect(subnetContains(s('fd00::/64'), a('fd00::ffff:ffff:ffff:ffff'))).toBe(true);
  });

  it('overlaps within a family only', () => {
    expect(subnetsOverlap(s('10.80.0.0/12'), s('10.81.0.0/16'))).toBe(true);
    expect(subnetsOverlap(s('10.81.0.0/16'), s('10.80.0.0/12'))).toBe(true);
    expect(subnetsOverlap(s('10.81.0.0/16'), s('10.82.0.0/16'))).toBe(false);
    expect(subnetsOverlap(s('10.0.0.0/31'), s('10.0.0.1/32'))).toBe(true);
    expect(subnetsOverlap(s('0.0.0.0/0'), s('::/0'))).toBe(false);
  });

  it('compares by family, network, prefix', () => {
    const sorted = ['fd00::/64', '10.81.0.0/24', '10.81.0.0/16', '10.0.0.0/8', '::/0']
      .map(s)
      .sort(compareSubnets)
      .map(formatSubnet);
    expect(sorted).toEqual(['10.0.0.0/8', '10.81.0.0/16', '10.81.0.0/24', '::/0', 'fd00::/64']);
    expect(subnetEquals(s('10.0.0.0/8'), s('10.0.0.0/8'))).toBe(true);
    expect(subnetEquals(s('10.0.0.0/8'), s('10.0.0.0/9'))).toBe(false);
  });
});

describe('offsetOf / addressAt', () => {
  it('maps addresses to offsets and back', () => {
    const net = s('10.81.0.0/16');
    expect(offsetOf(net, a('10.81.128.25'))).toBe(0x8019n);
    expect(formatAddress(addressAt(net, 0x8019n))).toBe('10.81.128.25');
    expect(formatAddress(addressAt(s('255.255.255.0/24'), 255n))).toBe('255.255.255.255');
    const v6 = s('ffff:ffff:ffff:ffff::/64');
    expect(formatAddress(addressAt(v6, (1n << 64n) - 1n))).toBe(
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    );
    expect(offsetOf(v6, a('ffff:ffff:ffff:ffff::5'))).toBe(5n);
  });

  it('rejects addresses and offsets outside, naming them', () => {
    const net = s('10.81.0.0/16');
    const outside = errorOf(() => offsetOf(net, a('10.82.0.1')));
    expect(outside.code).toBe('OUT_OF_RANGE');
    expect(outside.message).toContain('10.82.0.1');
    expect(outside.message).toContain('10.81.0.0/16');
    expect(errorOf(() => offsetOf(net, a('fd00::1'))).code).toBe('FAMILY_MISMATCH');
    expect(errorOf(() => addressAt(net, 65536n)).code).toBe('OUT_OF_RANGE');
    expect(errorOf(() => addressAt(net, -1n)).message).toContain('-1');
    expect(errorOf(() => addressAt(s('10.0.0.1/32'), 1n)).code).toBe('OUT_OF_RANGE');
  });
});
