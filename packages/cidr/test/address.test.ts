import { describe, expect, it } from 'vitest';
import {
  addressEquals,
  compareAddresses,
  formatAddress,
  formatAddressWithPrefix,
  isIPv4Mapped,
  parseAddress,
  parseAddressWithPrefix,
  unmapIPv4,
} from '../src/index.js';
import { errorOf } from './error-of.js';

/** roundTrip parses and formats again. */
const roundTrip = (text: string): string => formatAddress(parseAddress(text));

describe('parseAddress / formatAddress', () => {
  it('parses IPv4 with and without a prefix length', () => {
    expect(parseAddress('10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseAddress('10.0.0.1/24')).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseAddressWithPrefix('10.81.128.25/16')).toEqual({
      address: { family: 4, value: 0x0a518019n },
      prefix: 16,
    });
    expect(parseAddressWithPrefix('10.81.128.25').prefix).toBeUndefined();
  });

  it('parses the extremes of both families', () => {
    expect(parseAddress('0.0.0.0').value).toBe(0n);
    expect(parseAddress('255.255.255.255').value).toBe(0xffffffffn);
    expect(parseAddress('::').value).toBe(0n);
    expect(parseAddress('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff').value).toBe((1n << 128n) - 1n);
    expect(parseAddressWithPrefix('::/0').prefix).toBe(0);
    expect(parseAddressWithPrefix('fd00::1/128').prefix).toBe(128);
    expect(parseAddressWithPrefix('10.0.0.1/32').prefix).toBe(32);
  });

  it('parses every IPv6 text form', () => {
    expect(parseAddress('fd00::1')).toEqual({ family: 6, value: (0xfd00n << 112n) | 1n });
    expect(parseAddress('FD00:0:0:0:0:0:0:1')).toEqual(parseAddress('fd00::1'));
    expect(parseAddress('::1').value).toBe(1n);
    expect(parseAddress('1::').value).toBe(1n << 112n);
    expect(parseAddress('1:2:3:4:5:6:7::').value).toBe(parseAddress('1:2:3:4:5:6:7:0').value);
    expect(parseAddress('::2:3:4:5:6:7:8').value).toBe(parseAddress('0:2:3:4:5:6:7:8').value);
    expect(parseAddress('::1.2.3.4').value).toBe(0x01020304n);
    expect(parseAddress('64:ff9b::192.0.2.33').value).toBe((0x64ff9bn << 96n) | 0xc0000221n);
    expect(parseAddress('1:2:3:4:5:6:1.2.3.4').value).toBe(
      parseAddress('1:2:3:4:5:6:102:304').value,
    );
  });

  it('formats IPv6 per RFC 5952', () => {
    expect(roundTrip('FD00:0000:0000:0000:0000:0000:0000:0001')).toBe('fd00::1');
    expect(roundTrip('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // first of equal runs
    expect(roundTrip('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // lone zero kept
    expect(roundTrip('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1'); // longest run wins
    expect(roundTrip('0:0:0:0:0:0:0:0')).toBe('::');
    expect(roundTrip('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(roundTrip('1:0:0:0:0:0:0:0')).toBe('1::');
    expect(roundTrip('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    );
  });

  it('keeps IPv4-mapped IPv6 as IPv6 and formats it with a dotted tail', () => {
    const mapped = parseAddress('::ffff:10.0.0.1');
    expect(mapped).toEqual({ family: 6, value: (0xffffn << 32n) | 0x0a000001n });
    expect(parseAddress('::FFFF:a00:1')).toEqual(mapped);
    expect(formatAddress(mapped)).toBe('::ffff:10.0.0.1');
    expect(isIPv4Mapped(mapped)).toBe(true);
    expect(unmapIPv4(mapped)).toEqual(parseAddress('10.0.0.1'));
    expect(unmapIPv4(parseAddress('fd00::1'))).toEqual(parseAddress('fd00::1'));
    expect(compareAddresses(mapped, parseAddress('10.0.0.1'))).toBe(1);
  });

  it('formats with a prefix length', () => {
    expect(formatAddressWithPrefix(parseAddress('10.81.128.25'), 16)).toBe('10.81.128.25/16');
    expect(formatAddressWithPrefix(parseAddress('fd00::5'), 64)).toBe('fd00::5/64');
    expect(errorOf(() => formatAddressWithPrefix(parseAddress('10.0.0.1'), 33)).code).toBe(
      'INVALID_PREFIX',
    );
  });

  it.each([
    '',
    ' ',
    '10.0.0',
    '10.0.0.1.2',
    '10.0.0.256',
    '10.0.0.01',
    '10.0.0.-1',
    '10.0.0.1 ',
    ' 10.0.0.1',
    '10..0.1',
    'a.b.c.d',
    '0x0a.0.0.1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '12345::',
    'g::1',
    ':::',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3',
    '::1.2.3.4:5',
    'fe80::1%eth0',
    'not an address',
    '10.0.0.1/',
  ])('rejects garbage %j with a message naming it', (text) => {
    const error = errorOf(() => parseAddress(text));
    expect(['INVALID_ADDRESS', 'INVALID_PREFIX']).toContain(error.code);
    expect(error.kind).toBe('invalid');
    expect(error.input).toBe(text);
    expect(error.message).toContain(JSON.stringify(text));
  });

  it.each([
    '10.0.0.1/33',
    '10.0.0.1/-1',
    '10.0.0.1/08',
    '10.0.0.1/x',
    'fd00::/129',
    '10.0.0.1/2/3',
  ])('rejects the bad prefix in %j', (text) => {
    const error = errorOf(() => parseAddressWithPrefix(text));
    expect(error.code).toBe('INVALID_PREFIX');
    expect(error.message).toContain(JSON.stringify(text));
  });

  it('rejects non-strings without crashing', () => {
    expect(errorOf(() => parseAddress(undefined as unknown as string)).code).toBe(
      'INVALID_ADDRESS',
    );
  });
});

describe('compareAddresses / addressEquals', () => {
  it('orders IPv4 before IPv6, then by value', () => {
    const sorted = ['fd00::1', '10.0.0.2', '::', '10.0.0.1', '255.255.255.255']
      .map(parseAddress)
      .sort(compareAddresses)
      .map(formatAddress);
    expect(sorted).toEqual(['10.0.0.1', '10.0.0.2', '255.255.255.255', '::', 'fd00::1']);
  });

  it('compares family and value', () => {
    expect(addressEquals(parseAddress('10.0.0.1'), parseAddress('10.0.0.1/8'))).toBe(true);
    expect(addressEquals(parseAddress('::1'), parseAddress('0.0.0.1'))).toBe(false);
    expect(compareAddresses(parseAddress('::1'), parseAddress('::1'))).toBe(0);
  });
});
