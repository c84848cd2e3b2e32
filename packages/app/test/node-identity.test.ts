/**
 * One live instance per NODE_ID, across real plugin processes on one real etcd: a second
 * process with the same NODE_ID (a cloned VM) serves nothing and says why; a SIGKILLed instance
 * is replaced within the lease's TTL, a SIGTERMed one at once; an instance frozen (SIGSTOP) past
 * its TTL while another took over commits nothing once thawed. Every granted address is unique
 * and every acknowledged one is in etcd under its host.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callPlugin, type PluginProcess, startPlugin } from './support/plugin-process.js';

const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-identity-'));
let etcd: Awaited<ReturnType<typeof startEtcd>>;
let client: Etcd3;
const running: PluginProcess[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  client?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let sockets = 0;
async function plugin(node: string, prefix: string): Promise<PluginProcess> {
  sockets += 1;
  const p = await startPlugin({
    socket: join(dir, `p${sockets}.sock`),
    env: {
      ETCD_ENDPOINT: etcd.endpoint,
      NODE_ID: node,
      KONTENA_IPAM_ETCD_PREFIX: prefix,
      KONTENA_IPAM_NODE_TTL: '2',
    },
  });
  running.push(p);
  return p;
}

const requestPool = (p: PluginProcess, network: string, subnet: string) =>
  callPlugin(p.socket, 'IpamDriver.RequestPool', {
    AddressSpace: 'LocalDefault',
    Pool: subnet,
    SubPool: '',
    Options: { network },
    V6: false,
  });
const requestAddress = (p: PluginProcess, pool: string, address = '') =>
  callPlugin(p.socket, 'IpamDriver.RequestAddress', {
    PoolID: pool,
    Address: address,
    Options: {},
  });

function health(socket: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/health', method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** addressesOf lists the addresses etcd records for `node` in `pool` under `prefix`. */
async function addressesOf(prefix: string, pool: string, node: string): Promise<string[]> {
  const under = `${prefix}v2/addresses/${pool}/`;
  const all = await client.getAll().prefix(under).strings();
  return Object.entries(all)
    .filter(([, v]) => {
      const record = JSON.parse(v) as { node: string; kind: string };
      return record.node === node && record.kind === 'endpoint';
    })
    .map(([key]) => key.slice(under.length))
    .sort();
}

/** untilOk retries `call` until it answers 200 (a waiting instance starts serving). */
async function untilOk<T extends { status: number }>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const reply = await call();
    if (reply.status === 200) return reply;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('never served');
}

let prefixes = 0;
const newPrefix = () => `/identity-${process.pid}-${++prefixes}/`;

describe('two processes with one NODE_ID', () => {
  it('the second serves nothing and says why; the first keeps serving and keeps its addresses', async () => {
    const prefix = newPrefix();
    const first = await plugin('twin', prefix);
    expect((await requestPool(first, 'clones', '10.90.0.0/24')).status).toBe(200);
    const a1 = await requestAddress(first, 'clones');
    expect(a1.status).toBe(200);
    const firstHealth = await health(first.socket);
    expect(firstHealth.body).toMatchObject({ Status: 'ok', Node: 'twin', Registration: 'serving' });

    const second = await plugin('twin', prefix);
    const refused = await requestAddress(second, 'clones');
    expect(refused.status).toBe(503);
    expect(String(refused.body.Err)).toContain('NODE_ID twin is served by another kontena-ipam');
    expect(String(refused.body.Err)).toContain(`instance ${firstHealth.body.Instance}`);
    expect((await requestPool(second, 'clones', '10.90.0.0/24')).status).toBe(503);
    const secondHealth = await health(second.socket);
    expect(secondHealth.status).toBe(503);
    expect(secondHealth.body).toMatchObject({ Registration: 'waiting', Node: 'twin' });
    expect(String(secondHealth.body.Err)).toContain(`instance ${firstHealth.body.Instance}`);
    expect(second.output()).toContain('NODE_ID twin is served by another kontena-ipam');

    // The first one serves on, and nothing of its was freed or taken by the second.
    const a2 = await requestAddress(first, 'clones');
    expect(a2.status).toBe(200);
    expect(await addressesOf(prefix, 'clones', 'twin')).toEqual(
      [a1.body.Address, a2.body.Address].map((a) => String(a).split('/')[0]).sort(),
    );

    // SIGKILL the first: the waiting second serves within the TTL, and grants a new address.
    await first.stop('SIGKILL');
    const a3 = await untilOk(() => requestAddress(second, 'clones'));
    const granted = [a1, a2, a3].map((r) => String(r.body.Address));
    expect(new Set(granted).size).toBe(3);
    expect(await addressesOf(prefix, 'clones', 'twin')).toEqual(
      granted.map((a) => a.split('/')[0]).sort(),
    );
    expect((await health(second.socket)).body).toMatchObject({ Registration: 'serving' });
    expect(await second.stop()).toBe(0);
  });

  it('a SIGTERMed instance hands its NODE_ID over at once: a restart serves on its first call', async () => {
    const prefix = newPrefix();
    const first = await plugin('host-r', prefix);
    expect((await requestPool(first, 'restarts', '10.91.0.0/24')).status).toBe(200);
    expect(await first.stop('SIGTERM')).toBe(0);
    const again = await plugin('host-r', prefix);
    const reply = await requestAddress(again, 'restarts');
    expect(reply.status).toBe(200);
    expect(await again.stop()).toBe(0);
  });

  it('an instance frozen past its TTL while another took over commits nothing once thawed', async () => {
    const prefix = newPrefix();
    const frozen = await plugin('twin-f', prefix);
    expect((await requestPool(frozen, 'frozen', '10.92.0.0/24')).status).toBe(200);
    const before = await requestAddress(frozen, 'frozen');
    expect(before.status).toBe(200);
    frozen.child.kill('SIGSTOP');
    try {
      const other = await plugin('twin-f', prefix);
      const taken = await untilOk(() => requestAddress(other, 'frozen'));
      // Sent while frozen: the kernel queues it, the thawed process answers it.
      const late = requestAddress(frozen, 'frozen', '10.92.0.77');
      await new Promise((r) => setTimeout(r, 200));
      frozen.child.kill('SIGCONT');
      const reply = await late;
      expect(reply.status).toBe(503);
      expect(String(reply.body.Err)).toMatch(/NODE_ID twin-f/);
      const recorded = await addressesOf(prefix, 'frozen', 'twin-f');
      expect(recorded).not.toContain('10.92.0.77');
      expect(recorded).toEqual(
        [before, taken].map((r) => String(r.body.Address).split('/')[0]).sort(),
      );
      // The thawed one noticed: it waits for the live one, and says so.
      await expect
        .poll(async () => (await health(frozen.socket)).body.Registration)
        .toBe('waiting');
      expect(await other.stop()).toBe(0);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    expect(await frozen.stop()).toBe(0);
  });
});
