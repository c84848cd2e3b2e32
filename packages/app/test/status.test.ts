import { stripVTControlCharacters } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  envFor,
  node,
  openSeedStore,
  runCommand,
  runWithoutEtcd,
  uniquePrefix,
  useOperatorEtcd,
} from './support/operator.js';
import { runBin } from './support/plugin-process.js';

const etcd = useOperatorEtcd();
let env: Record<string, string>;

beforeAll(async () => {
  ({ env } = await etcd.demo());
});

describe('kontena-ipam status', () => {
  it('lists each host: live with its instance and since when, then since its clean stop', async () => {
    const prefix = uniquePrefix();
    const seeded = openSeedStore(etcd.endpoint, prefix);
    const info = {
      hostname: 'vm-c',
      pid: 4321,
      version: '9.9.9',
      startedAt: new Date().toISOString(),
    };
    const reg = seeded.store.register(node('node-c'), info, { ttlSeconds: 5 });
    try {
      await reg.serving();
      const env = envFor(etcd.endpoint, prefix);
      const live = JSON.parse((await runCommand(['status', '--json'], env)).stdout);
      expect(live.hosts).toEqual([
        {
          node: 'node-c',
          live: true,
          since: info.startedAt,
          instance: { id: reg.instance, hostname: 'vm-c', pid: 4321, version: '9.9.9' },
          addresses: 0,
          pools: [],
        },
      ]);
      const text = stripVTControlCharacters((await runCommand(['status'], env)).stdout);
      expect(text).toMatch(
        new RegExp(`node-c +yes +\\d+s ago +${reg.instance} \\(vm-c, pid 4321\\)`),
      );
      await reg.stop();
      const gone = JSON.parse((await runCommand(['status', '--json'], env)).stdout);
      expect(gone.hosts).toEqual([
        expect.objectContaining({
          node: 'node-c',
          live: false,
          since: expect.any(String),
          instance: null,
        }),
      ]);
      expect(Date.parse(gone.hosts[0].since)).toBeGreaterThanOrEqual(Date.parse(info.startedAt));
    } finally {
      await reg.stop();
      await seeded.close();
    }
  });

  it('prints one aligned row per pool and the supernet totals', async () => {
    const result = await runCommand(['status'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'NETWORK  SUBNET        IP-RANGE        GATEWAY    HOLDERS           USED/TOTAL    USE%',
        'apps     10.80.0.0/24  -               10.80.0.1  node-a,node-b          1/254    0.4%  [#.........]',
        'kontena  10.81.0.0/16  10.81.128.0/17  10.81.0.1  node-a,node-b(2)     4/32766   <0.1%  [#.........]',
        'small    10.82.0.0/29  -               10.82.0.1  node-a                   6/6  100.0%  [##########]',
        '',
        // Hosts that own something but no live kontena-ipam holds their NODE_ID: not live.
        'HOST    LIVE  SINCE  INSTANCE  ADDRESSES  POOLS',
        'node-a  no    -      -                 9  apps,kontena,small',
        'node-b  no    -      -                 2  apps,kontena',
        '',
        'supernet 10.80.0.0/12: 258 of 4096 /24 subnets used, 3838 available (3 pools inside)',
        `cluster mode: etcd at ${etcd.endpoint} (ETCD_ENDPOINT)`,
        '',
      ].join('\n'),
    );
  });

  it('--json gives every pool and supernet, totals as decimal strings', async () => {
    const result = await runCommand(['status', '--json'], env);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body.pools.map((p: { network: string }) => p.network)).toEqual([
      'apps',
      'kontena',
      'small',
    ]);
    expect(body.pools[1]).toEqual({
      network: 'kontena',
      subnet: '10.81.0.0/16',
      ipRange: '10.81.128.0/17',
      gateway: '10.81.0.1',
      dynamic: false,
      holds: { 'node-a': 1, 'node-b': 2 },
      used: 4,
      total: '32766',
      utilisation: 0.000122,
      createdAt: expect.any(String),
    });
    expect(body.pools[2]).toMatchObject({ network: 'small', used: 6, total: '6', utilisation: 1 });
    expect(body.etcd).toEqual({ mode: 'cluster', endpoints: [etcd.endpoint] });
    expect(body.supernets).toEqual([
      {
        supernet: '10.80.0.0/12',
        subnetLength: 24,
        subnets: '4096',
        used: '258',
        available: '3838',
        pools: 3,
      },
    ]);
  });

  it('counts the IPv6 supernet too when one is configured', async () => {
    const result = await runCommand(['status', '--json'], {
      ...env,
      KONTENA_IPAM_SUPERNET6: 'fd00:80::/48',
      KONTENA_IPAM_SUBNET_LENGTH6: '64',
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).supernets[1]).toEqual({
      supernet: 'fd00:80::/48',
      subnetLength: 64,
      subnets: '65536',
      used: '0',
      available: '65536',
      pools: 0,
    });
  });

  it('an empty store says so', async () => {
    const result = await runCommand(['status'], envFor(etcd.endpoint, uniquePrefix()));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `no pools\n\nsupernet 10.80.0.0/12: 0 of 4096 /24 subnets used, 4096 available (0 pools inside)\ncluster mode: etcd at ${etcd.endpoint} (ETCD_ENDPOINT)\n`,
    );
  });

  it('colours only on a terminal, and NO_COLOR turns it off there', async () => {
    const plain = await runCommand(['status'], env);
    expect(plain.stdout).not.toContain('\u001b[');
    const tty = await runCommand(['status'], env, { tty: true });
    expect(tty.stdout).toContain('\u001b[');
    // Colour does not move the columns: without the codes it is the plain table.
    expect(stripVTControlCharacters(tty.stdout)).toBe(plain.stdout);
    const noColor = await runCommand(['status'], { ...env, NO_COLOR: '1' }, { tty: true });
    expect(noColor.stdout).toBe(plain.stdout);
  });

  it('exits 1 with one line naming the endpoint when etcd is unreachable', async () => {
    const { endpoint, ...result } = await runWithoutEtcd(['status']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      new RegExp(`^kontena-ipam status: etcd unavailable at ${endpoint}: `),
    );
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('the built bin prints the same table and exit code as runCli', async () => {
    const inProcess = await runCommand(['status'], env);
    const bin = await runBin(['status'], env);
    expect(bin).toMatchObject({ code: 0, stdout: inProcess.stdout });
  });

  it('--help lists the operator commands', async () => {
    const help = await runCommand(['--help'], {});
    for (const name of ['status', 'show', 'check', 'release']) {
      expect(help.stdout).toMatch(new RegExp(`^\\s+${name}\\s+\\S`, 'm'));
    }
  });

  it('--help exits 0 without touching etcd; a bad option exits 2', async () => {
    const help = await runCommand(['status', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: kontena-ipam status [--json]');
    const bad = await runCommand(['status', '--bogus'], env);
    expect(bad.code).toBe(2);
  });
});
