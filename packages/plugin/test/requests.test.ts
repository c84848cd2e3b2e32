/** Request validation on its own: how Docker's bodies become domain requests, and the messages. */
import { formatAddress, formatSubnet } from '@kontena-ipam/cidr';
import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  parseReleaseAddress,
  parseRequestAddress,
  parseRequestPool,
} from '../src/requests.js';

const MAC = 'com.docker.network.endpoint.macaddress';
const NAME = 'com.docker.network.endpoint.name';
const GW = 'com.docker.network.gateway';

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a failure');
};

describe('decodeBody', () => {
  it('reads Docker bodies: trailing newline, empty, whitespace', () => {
    expect(decodeBody(Buffer.from('{"PoolID":"p1"}\n'))).toEqual({ PoolID: 'p1' });
    expect(decodeBody(Buffer.from(''))).toBeUndefined();
    expect(decodeBody(Buffer.from(' \n'))).toBeUndefined();
  });

  it('refuses bytes that are not UTF-8 or not JSON', () => {
    expect(message(() => decodeBody(Buffer.from([0xff, 0x7b])))).toContain('not UTF-8');
    expect(message(() => decodeBody(Buffer.from('{"a":')))).toContain('not valid JSON');
  });
});

describe('parseRequestPool', () => {
  it('reads a static pool with ip-range', () => {
    const req = parseRequestPool({
      AddressSpace: 'local',
      Pool: '10.81.0.0/16',
      SubPool: '10.81.128.0/17',
      Options: { network: 'kontena' },
      V6: false,
    });
    expect(req.network).toBe('kontena');
    expect(req.subnet && formatSubnet(req.subnet)).toBe('10.81.0.0/16');
    expect(req.ipRange && formatSubnet(req.ipRange)).toBe('10.81.128.0/17');
    expect(req.v6).toBe(false);
  });

  it('reads an empty Pool as dynamic and tolerates missing optional fields', () => {
    expect(parseRequestPool({ Options: { network: 'dyn' } })).toMatchObject({
      network: 'dyn',
      subnet: undefined,
      ipRange: undefined,
      v6: false,
    });
  });

  it('names every fault at once', () => {
    const text = message(() =>
      parseRequestPool({ Pool: '10.0.0.1/8', SubPool: 7, Options: { network: 'ok' }, V6: 'yes' }),
    );
    expect(text).toContain('SubPool must be a string, got 7');
    expect(text).toContain('V6 must be a boolean, got "yes"');
  });

  it('says a host-bits-set Pool is not a valid subnet, quoting it', () => {
    expect(
      message(() => parseRequestPool({ Pool: '10.0.0.1/8', Options: { network: 'x' } })),
    ).toContain('Pool "10.0.0.1/8" is not a valid CIDR subnet');
  });

  it('refuses a non-object body, naming what came', () => {
    expect(message(() => parseRequestPool([1, 2]))).toBe(
      'request body must be a JSON object, got [1,2]',
    );
    expect(message(() => parseRequestPool(undefined))).toContain('empty');
  });
});

describe('parseRequestAddress', () => {
  it('tells the gateway, aux, --ip and dynamic requests apart', () => {
    expect(
      parseRequestAddress({ PoolID: 'p', Address: '', Options: { RequestAddressType: GW } }).kind,
    ).toBe('gateway');
    expect(
      parseRequestAddress({ PoolID: 'p', Address: '10.0.0.9', Options: { RequestAddressType: GW } })
        .kind,
    ).toBe('gateway');
    // --aux-address: Docker sends Options null
    expect(parseRequestAddress({ PoolID: 'p', Address: '10.0.0.9', Options: null }).kind).toBe(
      'aux',
    );
    expect(parseRequestAddress({ PoolID: 'p', Address: '10.0.0.9', Options: {} }).kind).toBe('aux');
    // a container's --ip: Docker sends its MAC (RequiresMACAddress) or, from Docker 29, its name
    expect(
      parseRequestAddress({
        PoolID: 'p',
        Address: '10.0.0.9',
        Options: { [MAC]: '02:42:0a:00:00:09' },
      }).kind,
    ).toBe('endpoint');
    expect(
      parseRequestAddress({ PoolID: 'p', Address: '10.0.0.9', Options: { [NAME]: 'web' } }).kind,
    ).toBe('endpoint');
    expect(parseRequestAddress({ PoolID: 'p', Address: '', Options: null }).kind).toBe('endpoint');
  });

  it('keeps the MAC (lower-cased) and the endpoint name', () => {
    const req = parseRequestAddress({
      PoolID: 'p',
      Address: '',
      Options: { [MAC]: '02:42:AA:BB:CC:DD', [NAME]: 'furious_hypatia' },
    });
    expect(req.attrs).toEqual({ mac: '02:42:aa:bb:cc:dd', endpoint: 'furious_hypatia' });
  });

  it('reads IPv6 addresses and refuses a prefix, a bad MAC and an unknown request type', () => {
    const req = parseRequestAddress({ PoolID: 'p', Address: 'fd00::10', Options: null });
    expect(req.address && formatAddress(req.address)).toBe('fd00::10');
    expect(message(() => parseRequestAddress({ PoolID: 'p', Address: '10.0.0.9/24' }))).toContain(
      'must be a bare IP address, without /24',
    );
    expect(
      message(() => parseRequestAddress({ PoolID: 'p', Options: { [MAC]: 'nope' } })),
    ).toContain(`Options.${MAC} "nope" is not a MAC address`);
    expect(
      message(() => parseRequestAddress({ PoolID: 'p', Options: { RequestAddressType: 'x' } })),
    ).toContain('Options.RequestAddressType "x" is not a known request type');
  });

  it('refuses a missing PoolID', () => {
    expect(message(() => parseRequestAddress({ Address: '' }))).toBe('PoolID is missing');
  });
});

describe('parseReleaseAddress', () => {
  it('needs a bare address', () => {
    expect(formatAddress(parseReleaseAddress({ PoolID: 'p', Address: '10.0.0.9' }).address)).toBe(
      '10.0.0.9',
    );
    expect(message(() => parseReleaseAddress({ PoolID: 'p', Address: '' }))).toContain(
      'Address is empty',
    );
  });
});

describe('messages for wrong types', () => {
  it('names Options when it is not an object of strings', () => {
    expect(message(() => parseRequestPool({ Options: 5 }))).toBe(
      'Options must be a JSON object of strings, got 5',
    );
    expect(message(() => parseRequestAddress({ PoolID: 'p', Options: { [MAC]: 7 } }))).toBe(
      `Options.${MAC} must be a string, got 7`,
    );
  });
});
