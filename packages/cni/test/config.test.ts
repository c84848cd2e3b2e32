/** The CNI call parser and result shaping, on their own (no daemon, no etcd). */
import { formatAddress, formatSubnet, parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { DEFAULT_SOCKET_PATH } from '@kontena-ipam/plugin';
import type { Attachment } from '@kontena-ipam/store';
import { describe, expect, it } from 'vitest';
import {
  addResult,
  addressesOf,
  DEFAULT_DAEMON_SOCKET,
  parseCniCall,
  staticIps,
} from '../src/index.js';
import { parseRanges } from '../src/ranges.js';

const env = { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/c1' };
const conf = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: 'lan',
  type: 'macvlan',
  ipam: { type: 'kontena-ipam', network: 'lan', ...ipam },
  ...extra,
});

function refusal(run: () => unknown): { code: number; message: string } {
  try {
    run();
  } catch (error) {
    return { code: (error as { cniCode: number }).cniCode, message: (error as Error).message };
  }
  throw new Error('expected a refusal');
}

const text = (r: ReturnType<typeof parseRanges>[number]) => ({
  v6: r.v6,
  subnet: r.subnet && formatSubnet(r.subnet),
  ipRange: r.ipRange && formatSubnet(r.ipRange),
  gateway: r.gateway && formatAddress(r.gateway),
});

describe('parseRanges (host-local names)', () => {
  it('no subnet: one dynamic IPv4 pool', () => {
    expect(parseRanges({}).map(text)).toEqual([
      { v6: false, subnet: undefined, ipRange: undefined, gateway: undefined },
    ]);
  });

  it('the single-range fields, and rangeStart/rangeEnd spanning a block become its ip-range', () => {
    const r = parseRanges({
      subnet: '10.68.0.0/24',
      rangeStart: '10.68.0.129',
      rangeEnd: '10.68.0.254',
      gateway: '10.68.0.1',
    });
    expect(r.map(text)).toEqual([
      { v6: false, subnet: '10.68.0.0/24', ipRange: '10.68.0.128/25', gateway: '10.68.0.1' },
    ]);
    expect(
      parseRanges({ subnet: '10.68.0.0/24', ipRange: '10.68.0.64/26' }).map(text)[0]?.ipRange,
    ).toBe('10.68.0.64/26');
  });

  it('ranges: one IPv4 and one IPv6 set make a dual-stack request', () => {
    const r = parseRanges({
      ranges: [[{ subnet: '10.68.0.0/24' }], [{ subnet: 'fd00:68::/64', gateway: 'fd00:68::1' }]],
    });
    expect(r.map(text)).toEqual([
      { v6: false, subnet: '10.68.0.0/24', ipRange: undefined, gateway: undefined },
      { v6: true, subnet: 'fd00:68::/64', ipRange: undefined, gateway: 'fd00:68::1' },
    ]);
  });

  it.each([
    [
      { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] },
      'ipam.ranges[0][0] and ipam.ranges[1][0] are both IPv4',
    ],
    [{ ranges: [] }, 'ipam.ranges is empty'],
    [{ ranges: [[{}]] }, 'ipam.ranges[0][0].subnet is missing'],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }]], subnet: '10.1.0.0/24' }, 'give one or the other'],
    [{ rangeStart: '10.1.0.5' }, 'need a subnet'],
    [
      { subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20' },
      'nearest that holds both is 10.1.0.0/27',
    ],
    [{ subnet: '10.1.0.0/24', ipRange: '10.2.0.0/25' }, 'is not inside subnet 10.1.0.0/24'],
    [{ subnet: '10.1.0.0/24', gateway: '10.2.0.1' }, 'ipam.gateway 10.2.0.1 is not inside'],
    [{ subnet: '10.1.0.1/24' }, 'ipam.subnet: invalid subnet'],
    [{ subnet: '10.1.0.0/24', rangeStart: 'x' }, 'ipam.rangeStart'],
  ])('%j is refused: %s', (ipam, says) => {
    const r = refusal(() => parseRanges(ipam as never));
    expect(r.code).toBe(7);
    expect(r.message).toContain(says);
  });
});

describe('parseCniCall', () => {
  it('ADD: the attachment, netns, network, routes and dns', () => {
    const req = parseCniCall('ADD', {
      env: { ...env, CNI_ARGS: 'K8S_POD_NAME=web;IP=10.68.0.9' },
      config: conf({
        subnet: '10.68.0.0/24',
        routes: [{ dst: '0.0.0.0/0' }],
        dns: { nameservers: ['10.68.0.1'] },
      }),
    });
    expect(req).toMatchObject({
      verb: 'ADD',
      network: 'lan',
      ref: { container: 'c1', ifname: 'eth0' },
      netns: '/var/run/netns/c1',
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.68.0.1'] },
    });
    expect(req.ips.map(formatAddress)).toEqual(['10.68.0.9']);
  });

  it('DEL needs no netns; GC and STATUS need no attachment', () => {
    expect(
      parseCniCall('DEL', { env: { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, config: conf({}) })
        .netns,
    ).toBe('');
    const gc = parseCniCall('GC', {
      env: {},
      config: conf(
        {},
        {
          cniVersion: '1.1.0',
          'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }],
        },
      ),
    });
    expect(gc.ref).toBeUndefined();
    expect(gc.validAttachments).toEqual([{ containerID: 'c1', ifname: 'eth0' }]);
  });

  it.each([
    [
      { env, config: { ipam: { type: 'kontena-ipam', network: 'lan' } } },
      7,
      'cniVersion is missing',
    ],
    [{ env, config: conf({ network: 7 }) }, 7, 'ipam.network'],
    [{ env, config: conf({ routes: [{ dst: 'x' }] }) }, 7, 'ipam.routes[0]'],
    [{ env, config: conf({ routes: [{ gw: '10.0.0.1' }] }) }, 7, 'ipam.routes[0].dst'],
    [{ env, config: { ...conf({}), cniVersion: '0.2.0' } }, 1, '0.2.0'],
    [{ env: { ...env, CNI_IFNAME: '' }, config: conf({}) }, 4, 'CNI_IFNAME is missing'],
    [{ env: { ...env, CNI_CONTAINERID: 'a b' }, config: conf({}) }, 4, 'CNI_CONTAINERID'],
    [{ env: { ...env, CNI_ARGS: 'IP=nope' }, config: conf({}) }, 4, 'CNI_ARGS IP="nope"'],
  ])('%j → code %d naming %s', (body, code, says) => {
    const r = refusal(() => parseCniCall('ADD', body));
    expect(r.code).toBe(code);
    expect(r.message).toContain(says);
  });

  it('staticIps reads IP= only, several comma-separated', () => {
    expect(
      staticIps('IGNORE_UNKNOWN=1;IP=10.0.0.5,fd00::5;K8S_POD_NAME=x').map(formatAddress),
    ).toEqual(['10.0.0.5', 'fd00::5']);
    expect(staticIps(undefined)).toEqual([]);
  });
});

describe('results', () => {
  const made = (address: string, subnet: string, gateway: string): Attachment => ({
    pool: 'lan' as never,
    node: 'a' as never,
    ref: { container: 'c1', ifname: 'eth0' } as never,
    netns: '/x',
    address: parseAddress(address),
    subnet: parseSubnet(subnet),
    gateway: parseAddress(gateway),
    at: '',
    created: true,
  });
  const both = [
    made('10.68.0.5', '10.68.0.0/24', '10.68.0.1'),
    made('fd00::5', 'fd00::/64', 'fd00::1'),
  ];

  it('1.0.0 and 1.1.0: ips without version', () => {
    expect(
      addResult('1.1.0', both, { routes: [{ dst: '0.0.0.0/0', gw: '10.68.0.1' }], dns: undefined }),
    ).toEqual({
      cniVersion: '1.1.0',
      ips: [
        { address: '10.68.0.5/24', gateway: '10.68.0.1' },
        { address: 'fd00::5/64', gateway: 'fd00::1' },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.68.0.1' }],
      dns: {},
    });
  });

  it('0.3.1 and 0.4.0: each ip names its version', () => {
    expect(
      addResult('0.4.0', both, { routes: [], dns: { nameservers: ['10.68.0.1'] } }).ips,
    ).toEqual([
      { version: '4', address: '10.68.0.5/24', gateway: '10.68.0.1' },
      { version: '6', address: 'fd00::5/64', gateway: 'fd00::1' },
    ]);
  });

  it('addressesOf reads a prevResult’s bare addresses', () => {
    expect(addressesOf({ ips: [{ address: '10.68.0.5/24' }, { interface: 0 }] })).toEqual([
      '10.68.0.5',
    ]);
    expect(addressesOf(undefined)).toEqual([]);
  });

  it('the client’s default socket is the one the plugin serves', () => {
    expect(DEFAULT_DAEMON_SOCKET).toBe(DEFAULT_SOCKET_PATH);
  });
});
