import { describe, expect } from 'vitest';
import { checkConsistency, type Finding } from '../src/index.js';
import { type Env, net, node, pool, test, uniquePrefix } from './harness.js';

const A = node('node-a');
const B = node('node-b');

/** seeded builds a healthy store state: two pools, node-a and node-b each own an address. */
async function seeded(env: Env) {
  const prefix = uniquePrefix();
  const store = env.store({ prefix });
  await store.requestPool({ network: pool('kontena'), node: A, subnet: net('10.81.0.0/16') });
  await store.requestPool({ network: pool('kontena'), node: B, subnet: net('10.81.0.0/16') });
  await store.requestAddress({ pool: pool('kontena'), node: A, kind: 'gateway' });
  await store.requestAddress({ pool: pool('kontena'), node: A, kind: 'endpoint' });
  await store.requestAddress({ pool: pool('kontena'), node: B, kind: 'endpoint' });
  await store.requestPool({ network: pool('dyn'), node: A });
  const root = `${prefix}v2/`;
  const check = () =>
    checkConsistency({ client: env.client, prefix, endpoint: env.etcd.endpoint, deadlineMs: 3000 });
  return { prefix, root, store, check };
}

const kinds = (findings: Finding[]) => findings.map((f) => f.kind).sort();

describe('checkConsistency', () => {
  test('a state written only by the store is clean, with its counts', async ({ env }) => {
    const { check } = await seeded(env);
    const report = await check();
    expect(report.findings).toEqual([]);
    expect(report.pools).toBe(2);
    expect(report.reservations).toBe(2);
    // kontena: gateway + 2 endpoints; dyn: its gateway record.
    expect(report.addresses).toBe(4);
    expect(report.revision).toBeGreaterThan(0n);
  });

  test('an empty prefix is clean', async ({ env }) => {
    const report = await checkConsistency({ client: env.client, prefix: uniquePrefix() });
    expect(report).toMatchObject({ pools: 0, reservations: 0, addresses: 0, findings: [] });
  });

  test('overlapping reservations are reported once, naming both subnets and pools', async ({
    env,
  }) => {
    const { root, check } = await seeded(env);
    await env.client.put(`${root}subnets/10.81.4.0/24`).value(JSON.stringify({ pool: 'kontena' }));
    const report = await check();
    const overlap = report.findings.filter((f) => f.kind === 'overlapping-subnets');
    expect(overlap).toHaveLength(1);
    expect(overlap[0]).toMatchObject({ subnet: '10.81.4.0/24', other: '10.81.0.0/16' });
    expect(overlap[0]?.message).toBe(
      'subnet 10.81.4.0/24 (pool kontena) overlaps 10.81.0.0/16 (pool kontena)',
    );
    // The stray reservation names a pool whose subnet is another one.
    expect(kinds(report.findings)).toEqual(['overlapping-subnets', 'reservation-without-pool']);
  });

  test('a pool without its reservation, and a reservation without its pool', async ({ env }) => {
    const { root, check } = await seeded(env);
    await env.client.delete().key(`${root}subnets/10.81.0.0/16`);
    await env.client.put(`${root}subnets/10.99.0.0/24`).value(JSON.stringify({ pool: 'ghost' }));
    const report = await check();
    expect(kinds(report.findings)).toEqual([
      'pool-without-reservation',
      'reservation-without-pool',
    ]);
    expect(report.findings.map((f) => f.message).sort()).toEqual([
      'pool kontena: no reservation for its subnet 10.81.0.0/16',
      'reservation 10.99.0.0/24 names pool ghost, which does not exist',
    ]);
    const missing = report.findings.find((f) => f.kind === 'pool-without-reservation');
    expect(missing?.key).toBe(`${root}pools/kontena`);
  });

  test('two pools on overlapping subnets are caught even when one has no reservation', async ({
    env,
  }) => {
    const { root, check } = await seeded(env);
    const kontena = await env.client.get(`${root}pools/kontena`).string();
    const copy = {
      ...JSON.parse(kontena ?? '{}'),
      subnet: '10.81.128.0/17',
      holds: { 'node-a': 1 },
    };
    await env.client.put(`${root}pools/copy`).value(JSON.stringify(copy));
    const report = await check();
    expect(kinds(report.findings)).toEqual(['overlapping-subnets', 'pool-without-reservation']);
    expect(report.findings.find((f) => f.kind === 'overlapping-subnets')?.message).toBe(
      'subnet 10.81.128.0/17 (pool copy) overlaps 10.81.0.0/16 (pool kontena)',
    );
  });

  test('addresses outside their pool and addresses of no pool', async ({ env }) => {
    const { root, check } = await seeded(env);
    const record = JSON.stringify({ node: 'node-a', kind: 'endpoint', attrs: {}, at: 'x' });
    await env.client.put(`${root}addresses/kontena/10.82.0.9`).value(record);
    await env.client.put(`${root}addresses/gone/10.90.0.2`).value(record);
    const report = await check();
    expect(kinds(report.findings)).toEqual(['address-outside-pool', 'address-without-pool']);
    expect(report.findings.map((f) => f.message).sort()).toEqual([
      "address 10.82.0.9 (node node-a) lies outside pool kontena's subnet 10.81.0.0/16",
      'address 10.90.0.2 (node node-a) belongs to pool gone, which does not exist',
    ]);
  });

  test('a hold by a node that owns no address anywhere', async ({ env }) => {
    const { store, check } = await seeded(env);
    await store.requestPool({
      network: pool('kontena'),
      node: node('node-c'),
      subnet: net('10.81.0.0/16'),
    });
    const report = await check();
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: 'idle-hold',
        pool: 'kontena',
        node: 'node-c',
        message: 'pool kontena: held by node node-c, which owns no address in any pool',
      }),
    ]);
  });

  test('records that fail to parse, and keys the store never writes', async ({ env }) => {
    const { root, check } = await seeded(env);
    await env.client.put(`${root}pools/broken`).value('{not json');
    await env.client.put(`${root}pools/nosubnet`).value(JSON.stringify({ gateway: '10.1.0.1' }));
    await env.client.put(`${root}addresses/kontena/not-an-ip`).value('{}');
    await env.client.put(`${root}addresses/kontena/10.81.0.77`).value(JSON.stringify({ node: 1 }));
    await env.client.put(`${root}subnets/10.1.2.3/33`).value(JSON.stringify({ pool: 'kontena' }));
    await env.client.put(`${root}stray`).value('x');
    const report = await check();
    const unreadable = report.findings.filter((f) => f.kind === 'unreadable-record');
    expect(unreadable.map((f) => f.key).sort()).toEqual(
      [
        'addresses/kontena/10.81.0.77',
        'addresses/kontena/not-an-ip',
        'pools/broken',
        'pools/nosubnet',
        'subnets/10.1.2.3/33',
      ].map((k) => `${root}${k}`),
    );
    expect(unreadable.find((f) => f.key.endsWith('pools/broken'))?.message).toBe(
      `${root}pools/broken: not JSON`,
    );
    expect(report.findings.filter((f) => f.kind === 'unknown-key').map((f) => f.key)).toEqual([
      `${root}stray`,
    ]);
  });

  test('reads more keys than one page holds', async ({ env }) => {
    const { root, check } = await seeded(env);
    const record = JSON.stringify({ node: 'node-a', kind: 'endpoint', attrs: {}, at: 'x' });
    const puts = [];
    for (let i = 0; i < 1200; i++) {
      const address = `10.81.${10 + Math.floor(i / 250)}.${1 + (i % 250)}`;
      puts.push(env.client.put(`${root}addresses/kontena/${address}`).value(record));
    }
    await Promise.all(puts);
    await env.client.put(`${root}addresses/kontena/10.200.0.1`).value(record);
    const report = await check();
    expect(report.addresses).toBe(4 + 1200 + 1);
    expect(kinds(report.findings)).toEqual(['address-outside-pool']);
  });

  test('unreachable etcd is UNAVAILABLE naming the endpoint', async () => {
    const { Etcd3 } = await import('etcd3');
    const client = new Etcd3({ hosts: 'http://127.0.0.1:9' });
    try {
      await expect(
        checkConsistency({ client, endpoint: 'http://127.0.0.1:9', deadlineMs: 500 }),
      ).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringContaining('etcd unavailable at http://127.0.0.1:9'),
      });
    } finally {
      client.close();
    }
  });
});
