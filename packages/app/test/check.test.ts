import { describe, expect, it } from 'vitest';
import { runCommand, runWithoutEtcd, useOperatorEtcd } from './support/operator.js';

const etcd = useOperatorEtcd();

const demo = () => etcd.demo();

describe('kontena-ipam check', () => {
  it('exits 0 on a state written only by the store', async () => {
    const { env } = await demo();
    const result = await runCommand(['check'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^ok: 3 pools, 3 subnet reservations, 11 addresses at etcd revision \d+; no inconsistencies\n$/,
    );
  });

  it('exits 1 with one line per finding, each kind written straight into etcd', async () => {
    const { env, client, root } = await demo();
    const endpoint = JSON.stringify({ node: 'node-a', kind: 'endpoint', attrs: {}, at: 'x' });
    // Overlap: a reservation inside kontena's /16, for a pool whose subnet it is not.
    await client.put(`${root}subnets/10.81.4.0/24`).value(JSON.stringify({ pool: 'small' }));
    // A pool whose reservation is gone.
    await client.delete().key(`${root}subnets/10.82.0.0/29`);
    // An address outside its pool, and one of a pool that does not exist.
    await client.put(`${root}addresses/kontena/10.99.0.1`).value(endpoint);
    await client.put(`${root}addresses/ghost/10.98.0.1`).value(endpoint);
    // A hold by a node that owns nothing.
    await client.put(`${root}holds/apps/node-gone`).value(JSON.stringify({ count: 1 }));
    // A record that does not parse.
    await client.put(`${root}pools/broken`).value('{not json');

    const result = await runCommand(['check'], env);
    expect(result.code).toBe(1);
    expect(result.stdout.trimEnd().split('\n').sort()).toEqual(
      [
        `unreadable-record: ${root}pools/broken: not JSON`,
        'pool-without-reservation: pool small: no reservation for its subnet 10.82.0.0/29',
        'reservation-without-pool: reservation 10.81.4.0/24 names pool small, whose subnet is 10.82.0.0/29',
        'overlapping-subnets: subnet 10.81.4.0/24 (pool small) overlaps 10.81.0.0/16 (pool kontena)',
        'address-without-pool: address 10.98.0.1 (node node-a) belongs to pool ghost, which does not exist',
        "address-outside-pool: address 10.99.0.1 (node node-a) lies outside pool kontena's subnet 10.81.0.0/16",
        'idle-hold: pool apps: held by node node-gone, which owns no address in any pool',
      ].sort(),
    );
    expect(result.stderr).toMatch(
      /^kontena-ipam check: 7 findings in 3 pools, 3 subnet reservations, 13 addresses at etcd revision \d+\n$/,
    );

    const json = await runCommand(['check', '--json'], env);
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout);
    expect(body.ok).toBe(false);
    expect(body.revision).toMatch(/^\d+$/);
    expect(body.findings.map((f: { kind: string }) => f.kind).sort()).toEqual([
      'address-outside-pool',
      'address-without-pool',
      'idle-hold',
      'overlapping-subnets',
      'pool-without-reservation',
      'reservation-without-pool',
      'unreadable-record',
    ]);
    expect(body.findings.find((f: { kind: string }) => f.kind === 'idle-hold')).toEqual({
      kind: 'idle-hold',
      key: `${root}holds/apps/node-gone`,
      pool: 'apps',
      node: 'node-gone',
      message: 'pool apps: held by node node-gone, which owns no address in any pool',
    });
  });

  it('--json on a clean state says ok, exit 0', async () => {
    const { env } = await demo();
    const result = await runCommand(['check', '--json'], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      pools: 3,
      reservations: 3,
      addresses: 11,
      findings: [],
    });
  });

  it('exits 1 naming the endpoint when etcd is unreachable', async () => {
    const { endpoint, ...result } = await runWithoutEtcd(['check']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      new RegExp(`^kontena-ipam check: etcd unavailable at ${endpoint}: `),
    );
  });
});

describe('a record that fails to parse', () => {
  it('stops status with one line pointing at check, which lists it', async () => {
    const { env, client, root } = await demo();
    await client.put(`${root}pools/broken`).value('{not json');
    const status = await runCommand(['status'], env);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(
      `kontena-ipam status: etcd holds an unreadable record at ${root}pools/broken: not JSON; \`kontena-ipam check\` lists every such record\n`,
    );
    const check = await runCommand(['check'], env);
    expect(check.code).toBe(1);
    expect(check.stdout).toBe(`unreadable-record: ${root}pools/broken: not JSON\n`);
  });
});
