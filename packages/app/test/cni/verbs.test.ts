/**
 * Our CNI plugin exec'd directly, as a main plugin execs its IPAM (the client installed by
 * install-cni, talking to each host's kontena-ipam): repeated ADD and DEL, DEL of what was
 * never added, GC with valid-attachments, STATUS with the daemon down, a static IP, dual-stack
 * and 0.4.0 results, and every bad input: a CNI error naming the field and nothing in etcd.
 */
import { describe, expect, it } from 'vitest';
import { storeKeys } from '../support/etcd-keys.js';
import { runBin } from '../support/plugin-process.js';
import { useCniStack } from './cni-stack.js';

const stack = useCniStack();

async function revision(): Promise<string> {
  const res = await stack.client.get('/kontena/ipam/v2/guard/subnets').exec();
  return res.header.revision;
}

function conf(network: string, ipam: Record<string, unknown> = {}, cniVersion = '1.0.0') {
  const [a] = stack.hosts;
  return { cniVersion, name: network, type: 'macvlan', ipam: stack.ipamConfig(a, network, ipam) };
}

const cmd = (containerId: string, ifname = 'eth0') => ({
  containerId,
  ifname,
  netns: `/var/run/netns/${containerId}`,
});

describe('ADD and DEL, repeated', () => {
  it('a repeated ADD answers the same address; DEL twice and DEL of a never-added one succeed and write nothing', async () => {
    const config = conf('rep', { subnet: '10.98.2.0/24' });
    const first = await stack.ipam({ ...cmd('c1'), command: 'ADD', config });
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ cniVersion: '1.0.0', routes: [], dns: {} });
    const before = await revision();
    const again = await stack.ipam({ ...cmd('c1'), command: 'ADD', config });
    expect(again.json).toEqual(first.json);
    expect(await revision()).toBe(before);

    // `show` says which attachment holds the address; `check` finds nothing wrong.
    const env = { ETCD_ENDPOINT: stack.etcd.endpoint, NO_COLOR: '1' };
    const shown = await runBin(['show', 'rep'], env);
    const address = (first.json?.ips as Array<{ address: string }> | undefined)?.[0]?.address.split(
      '/',
    )[0];
    expect(shown.stdout).toMatch(new RegExp(`${address}\\s+host-a\\s+cni\\s+cni:c1/eth0`));
    const checked = await runBin(['check'], env);
    expect([checked.code, checked.stderr]).toEqual([0, '']);
    // Keep the pool alive with a second attachment, so the DELs below have a pool to look in.
    expect((await stack.ipam({ ...cmd('c2'), command: 'ADD', config })).code).toBe(0);
    const del = await stack.ipam({ ...cmd('c1'), command: 'DEL', config });
    expect([del.code, del.stdout]).toEqual([0, '']);
    const afterDel = await revision();
    for (const c of [cmd('c1'), cmd('never'), cmd('c2', 'eth9')]) {
      const r = await stack.ipam({ ...c, command: 'DEL', config });
      expect([r.code, r.stdout]).toEqual([0, '']);
    }
    // DEL needs no netns (the container may be gone).
    const noNetns = await stack.ipam({
      containerId: 'gone',
      ifname: 'eth0',
      command: 'DEL',
      config,
    });
    expect(noNetns.code).toBe(0);
    expect(await revision()).toBe(afterDel);
    expect((await stack.ipam({ ...cmd('c2'), command: 'DEL', config })).code).toBe(0);
    expect(await storeKeys(stack.client, 'pools/rep')).toEqual({});
  });

  it('CNI_ARGS IP= (Podman’s --ip) takes that address; taken by another it is error 100', async () => {
    const config = conf('static', { subnet: '10.98.3.0/24' });
    const r = await stack.ipam({
      ...cmd('s1'),
      command: 'ADD',
      args: 'IGNORE_UNKNOWN=1;IP=10.98.3.77',
      config,
    });
    expect(r.code).toBe(0);
    expect(r.json?.ips).toEqual([{ address: '10.98.3.77/24', gateway: '10.98.3.1' }]);
    const before = await revision();
    const taken = await stack.ipam({ ...cmd('s2'), command: 'ADD', args: 'IP=10.98.3.77', config });
    expect(taken.code).toBe(1);
    expect(taken.json).toMatchObject({ code: 100, msg: expect.stringContaining('10.98.3.77') });
    expect(await revision()).toBe(before);
    await stack.ipam({ ...cmd('s1'), command: 'DEL', config });
  });

  it('dual-stack ranges give an IPv4 and an IPv6 address; a 0.4.0 result names each one’s version', async () => {
    const ranges = [
      [{ subnet: '10.98.4.0/24', gateway: '10.98.4.1' }],
      [{ subnet: 'fd00:98:4::/64' }],
    ];
    const config = conf('ds', { ranges, routes: [{ dst: '0.0.0.0/0' }] }, '0.4.0');
    const r = await stack.ipam({ ...cmd('d1'), command: 'ADD', config });
    expect(r.code).toBe(0);
    const ips = r.json?.ips as Array<Record<string, string>>;
    expect(ips.map((ip) => ip.version)).toEqual(['4', '6']);
    expect(ips[0]?.address).toMatch(/^10\.98\.4\.\d+\/24$/);
    expect(ips[1]?.address).toMatch(/^fd00:98:4:[0-9a-f:]+\/64$/);
    expect(ips[1]?.gateway).toBe('fd00:98:4::1');
    expect(r.json?.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(Object.keys(await storeKeys(stack.client, 'attachments/ds:v6/host-a/'))).toEqual([
      'attachments/ds:v6/host-a/d1/eth0',
    ]);
    expect((await stack.ipam({ ...cmd('d1'), command: 'DEL', config })).code).toBe(0);
    expect(await storeKeys(stack.client, 'pools/ds')).toEqual({});
  });
});

describe('GC, STATUS, VERSION', () => {
  it('GC frees this host’s attachments of the network that valid-attachments does not list', async () => {
    const [a, b] = stack.hosts;
    const config = conf('gcnet', { subnet: '10.98.5.0/24' }, '1.1.0');
    for (const c of ['g1', 'g2', 'g3'])
      expect((await stack.ipam({ ...cmd(c), command: 'ADD', config })).code).toBe(0);
    const onB = { ...config, ipam: stack.ipamConfig(b, 'gcnet', { subnet: '10.98.5.0/24' }) };
    expect((await stack.ipam({ ...cmd('g4'), command: 'ADD', config: onB })).code).toBe(0);
    const gc = await stack.ipam({
      command: 'GC',
      config: { ...config, 'cni.dev/valid-attachments': [{ containerID: 'g1', ifname: 'eth0' }] },
    });
    expect([gc.code, gc.stdout]).toEqual([0, '']);
    expect(Object.keys(await storeKeys(stack.client, 'attachments/gcnet/')).sort()).toEqual([
      'attachments/gcnet/host-a/g1/eth0',
      'attachments/gcnet/host-b/g4/eth0',
    ]);
    void a;
    await stack.ipam({ ...cmd('g1'), command: 'DEL', config });
    await stack.ipam({ ...cmd('g4'), command: 'DEL', config: onB });
  });

  it('STATUS: ok while kontena-ipam serves; 50 when it does not; ADD and DEL say 11 (try again later)', async () => {
    const [a] = stack.hosts;
    const config = conf('st', {}, '1.1.0');
    const ok = await stack.ipam({ command: 'STATUS', config });
    expect([ok.code, ok.stdout]).toEqual([0, '']);
    expect(await a.plugin.stop()).toBe(0);
    try {
      const down = await stack.ipam({ command: 'STATUS', config });
      expect(down.code).toBe(1);
      expect(down.json).toMatchObject({
        cniVersion: '1.1.0',
        code: 50,
        msg: expect.stringContaining(a.socket),
      });
      const add = await stack.ipam({ ...cmd('x'), command: 'ADD', config });
      expect(add.json).toMatchObject({ code: 11 });
      const del = await stack.ipam({ ...cmd('x'), command: 'DEL', config });
      expect(del.json).toMatchObject({ code: 11 });
    } finally {
      await a.restart();
    }
  });

  it('etcd down: DEL is 11 and the record stays; STATUS is 50; once etcd is back the DEL frees it', async () => {
    const config = conf('down', { subnet: '10.98.8.0/24' }, '1.1.0');
    const added = await stack.ipam({ ...cmd('e1'), command: 'ADD', config });
    expect(added.code).toBe(0);
    const member = stack.etcd.members[0]?.name as string;
    await stack.etcd.stopMember(member);
    try {
      const del = await stack.ipam({ ...cmd('e1'), command: 'DEL', config });
      expect(del.code).toBe(1);
      expect(del.json).toMatchObject({
        code: 11,
        msg: expect.stringContaining('etcd unavailable'),
      });
      const status = await stack.ipam({ command: 'STATUS', config });
      expect(status.json).toMatchObject({ code: 50, msg: expect.stringContaining('etcd') });
    } finally {
      await stack.etcd.startMember(member);
    }
    expect(Object.keys(await storeKeys(stack.client, 'attachments/down/'))).toEqual([
      'attachments/down/host-a/e1/eth0',
    ]);
    const again = await stack.ipam({ ...cmd('e1'), command: 'DEL', config });
    expect([again.code, again.stdout]).toEqual([0, '']);
    expect(await storeKeys(stack.client, 'pools/down')).toEqual({});
  });

  it('VERSION is answered without the daemon', async () => {
    const r = await stack.ipam({ command: 'VERSION', config: '{}' });
    expect(r.json).toEqual({
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });
});

describe('bad input: a CNI error naming the field, nothing written', () => {
  const good = () => conf('bad', { subnet: '10.98.6.0/24' });
  const cases: Array<{
    what: string;
    run: () => Partial<Parameters<typeof stack.ipam>[0]>;
    code: number;
    says: string;
  }> = [
    { what: 'stdin not JSON', run: () => ({ config: '{nope' }), code: 6, says: 'not JSON' },
    {
      what: 'no ipam.network',
      run: () => ({
        config: { cniVersion: '1.0.0', ipam: { type: 'kontena-ipam', socket: good().ipam.socket } },
      }),
      code: 7,
      says: 'ipam.network is missing',
    },
    {
      what: 'malformed ipam.subnet',
      run: () => ({ config: { ...good(), ipam: { ...good().ipam, subnet: '10.98.6.1/24' } } }),
      code: 7,
      says: 'ipam.subnet',
    },
    {
      what: 'ipam.network not a name',
      run: () => ({ config: { ...good(), ipam: { ...good().ipam, network: 'a/b' } } }),
      code: 7,
      says: 'ipam.network',
    },
    {
      what: 'two ranges in a set',
      run: () => ({
        config: {
          ...good(),
          ipam: {
            ...good().ipam,
            subnet: undefined,
            ranges: [[{ subnet: '10.98.6.0/25' }, { subnet: '10.98.6.128/25' }]],
          },
        },
      }),
      code: 7,
      says: 'ipam.ranges[0] has 2 ranges',
    },
    {
      what: 'rangeStart..rangeEnd not a block',
      run: () => ({
        config: {
          ...good(),
          ipam: { ...good().ipam, rangeStart: '10.98.6.10', rangeEnd: '10.98.6.20' },
        },
      }),
      code: 7,
      says: 'ipam: rangeStart 10.98.6.10 .. rangeEnd 10.98.6.20 is not a CIDR block',
    },
    {
      what: 'relative ipam.socket',
      run: () => ({ config: { ...good(), ipam: { ...good().ipam, socket: 'x.sock' } } }),
      code: 7,
      says: 'ipam.socket',
    },
    {
      what: 'unsupported cniVersion',
      run: () => ({ config: { ...good(), cniVersion: '9.9.9' } }),
      code: 1,
      says: '9.9.9',
    },
    { what: 'unknown verb', run: () => ({ command: 'FROB' }), code: 4, says: 'CNI_COMMAND "FROB"' },
    {
      what: 'no CNI_COMMAND',
      run: () => ({ omit: ['CNI_COMMAND'] }),
      code: 4,
      says: 'CNI_COMMAND is missing',
    },
    {
      what: 'no CNI_CONTAINERID',
      run: () => ({ omit: ['CNI_CONTAINERID'] }),
      code: 4,
      says: 'CNI_CONTAINERID is missing',
    },
    {
      what: 'no CNI_NETNS on ADD',
      run: () => ({ omit: ['CNI_NETNS'] }),
      code: 4,
      says: 'CNI_NETNS is missing',
    },
    {
      what: 'a container id with /',
      run: () => ({ containerId: 'a/b' }),
      code: 4,
      says: 'CNI_CONTAINERID',
    },
    { what: 'an ifname with /', run: () => ({ ifname: 'eth/0' }), code: 4, says: 'CNI_IFNAME' },
    {
      what: 'an ifname past 15 chars',
      run: () => ({ ifname: 'x'.repeat(16) }),
      code: 4,
      says: 'CNI_IFNAME',
    },
    {
      what: 'CNI_ARGS IP= not an address',
      run: () => ({ args: 'IP=10.98.6.300' }),
      code: 4,
      says: 'CNI_ARGS IP=',
    },
    {
      what: 'CNI_ARGS IP= of a family with no range',
      run: () => ({ args: 'IP=fd00::5' }),
      code: 4,
      says: 'no IPv6 range',
    },
    {
      what: 'CNI_ARGS IP= outside the subnet',
      run: () => ({ args: 'IP=10.99.0.5' }),
      code: 7,
      says: 'not inside subnet',
    },
  ];
  it.each(cases)('$what → code $code', async ({ run, code, says }) => {
    const before = await revision();
    const r = await stack.ipam({ ...cmd('bad1'), command: 'ADD', config: good(), ...run() });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code, msg: expect.stringContaining(says) });
    expect(r.json?.cniVersion).toEqual(expect.any(String));
    expect(await revision()).toBe(before);
  });

  it('a subnet that disagrees with the pool’s is code 7 naming both, and nothing is written', async () => {
    const ok = await stack.ipam({ ...cmd('m1'), command: 'ADD', config: good() });
    expect(ok.code).toBe(0);
    const before = await revision();
    const other = { ...good(), ipam: { ...good().ipam, subnet: '10.98.7.0/24' } };
    const r = await stack.ipam({ ...cmd('m2'), command: 'ADD', config: other });
    expect(r.json).toMatchObject({
      code: 7,
      msg: 'network bad has subnet 10.98.6.0/24, not 10.98.7.0/24',
      details: 'kontena-ipam store error POOL_MISMATCH',
    });
    expect(await revision()).toBe(before);
    await stack.ipam({ ...cmd('m1'), command: 'DEL', config: good() });
  });
});
