/**
 * 1. Allocation latency: RequestAddress through the whole plugin path (HTTP on a unix socket →
 * validation → IpamStore → one etcd transaction) against the physical floor, a bare
 * create-if-absent transaction on the same etcd3 client. Sequential, one call at a time; the
 * kinds of call take turns so that drift in the machine hits them alike. Two more kinds show
 * where the time goes: the same IpamStore called directly (no HTTP), and the plugin over a
 * trivial backend (HTTP, validation and logging only, no etcd).
 */
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { startPluginHost } from '@kontena-ipam/testing/plugin-host';
import { benchPlugin } from './bench-plugin.js';
import { startBenchEtcd } from './etcd.js';
import type { LatencyAsk, LatencyReply } from './latency.client.js';
import { PluginClient, requestPoolBody } from './plugin-client.js';
import type { Figure, Scenario } from './scenario.js';
import { ratio, summarize, timed } from './stats.js';
import { trivialBackend } from './trivial-backend.js';
import { startTsWorker } from './ts-worker.js';
import { formatAddress, IpamStore, parseNodeId, parsePoolId } from './workspace.js';

const NETWORK = 'bench-latency';
const SUBNET = '10.81.0.0/16';

/** ask has the Docker-side worker send one RequestAddress and returns its reply. */
function ask(worker: Worker, question: LatencyAsk): Promise<{ ms: number; address: string }> {
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: LatencyReply) => {
      if ('error' in reply) reject(new Error(reply.error));
      else resolve(reply);
    });
    worker.postMessage(question);
  });
}

export const latency: Scenario = {
  id: 'latency',
  title: '1. Allocation latency',
  method:
    'Sequential RequestAddress calls through a real PluginServer on a unix socket backed by a real IpamStore, sent from a worker thread (as Docker sends them from another process) on a kept-alive connection, with pino logging at info (the default) to /dev/null. They take turns with three other kinds of call: a bare etcd transaction (If key Create == 0 Then put, a record of the same size) on the same etcd3 client, the same IpamStore called directly, and a second PluginServer over a trivial backend (no etcd). The first calls of each kind are a warm-up and not counted.',
  async run(ctx) {
    const count = ctx.smoke ? 60 : 3000;
    const warmup = ctx.smoke ? 10 : 300;
    const etcd = await startBenchEtcd();
    const node = parseNodeId('bench-host');
    const client = etcd.client();
    const store = new IpamStore({ client, endpoint: etcd.endpoint });
    const plugin = await startPluginHost(benchPlugin({ backend: store, node }));
    const trivial = await startPluginHost(benchPlugin({ backend: trivialBackend(node), node }));
    const setup = new PluginClient(plugin.socketPath);
    let worker: Worker | undefined;
    try {
      await setup.postOk('/IpamDriver.RequestPool', requestPoolBody(NETWORK, SUBNET));
      const docker = await startTsWorker(new URL('./latency.client.ts', import.meta.url), {
        sockets: { store: plugin.socketPath, trivial: trivial.socketPath },
        network: NETWORK,
      });
      worker = docker;
      const pool = parsePoolId(NETWORK);
      const value = JSON.stringify({
        node,
        kind: 'endpoint',
        attrs: { mac: '02:42:0a:51:00:02' },
        at: new Date().toISOString(),
        token: randomBytes(12).toString('base64url'),
      });
      const seen = new Set<string>();
      let duplicates = 0;
      const remember = (address: string): void => {
        if (seen.has(address)) duplicates++;
        seen.add(address);
      };
      const kinds = {
        plugin: async (n: number): Promise<number> => {
          const reply = await ask(docker, { target: 'store', n });
          remember(reply.address.split('/')[0] as string);
          return reply.ms;
        },
        hop: async (n: number): Promise<number> => (await ask(docker, { target: 'trivial', n })).ms,
        store: (): Promise<number> =>
          timed(async () => {
            const got = await store.requestAddress({ pool, node, kind: 'endpoint', attrs: {} });
            remember(formatAddress(got.address));
          }),
        bare: (n: number): Promise<number> =>
          timed(async () => {
            const key = `/bench/bare/${n}`;
            const res = await client
              .if(key, 'Create', '==', 0)
              .then(client.put(key).value(value))
              .commit();
            if (!res.succeeded) throw new Error(`bare create of ${key} lost its compare`);
          }),
      };
      const names = Object.keys(kinds) as Array<keyof typeof kinds>;
      const samples = { plugin: [], hop: [], store: [], bare: [] } as Record<
        keyof typeof kinds,
        number[]
      >;
      ctx.progress(`latency: ${warmup} + ${count} calls of each of 4 kinds, sequential`);
      for (let i = 0; i < warmup + count; i++) {
        // Rotate the order each round: no kind always follows the same other kind.
        for (let k = 0; k < names.length; k++) {
          const name = names[(i + k) % names.length] as keyof typeof kinds;
          const ms = await kinds[name](i);
          if (i >= warmup) samples[name].push(ms);
        }
      }
      const p = summarize(samples.plugin);
      const h = summarize(samples.hop);
      const s = summarize(samples.store);
      const b = summarize(samples.bare);
      const ms = (name: string, id: string, value: number): Figure => ({
        id: `latency.${id}`,
        name,
        value,
        unit: 'ms',
        digits: 3,
      });
      const figures: Figure[] = [
        ms('plugin path p50', 'plugin-p50', p.p50),
        ms('plugin path p99', 'plugin-p99', p.p99),
        ms('bare etcd txn p50', 'bare-p50', b.p50),
        ms('bare etcd txn p99', 'bare-p99', b.p99),
        ms('IpamStore direct p50', 'store-p50', s.p50),
        ms('IpamStore direct p99', 'store-p99', s.p99),
        ms('plugin over a trivial backend p50', 'hop-p50', h.p50),
        ms('plugin over a trivial backend p99', 'hop-p99', h.p99),
        {
          id: 'latency.p50-ratio',
          name: 'p50 plugin path / bare txn',
          value: ratio(p.p50, b.p50),
          unit: '×',
          target: { op: '<=', value: 1.5, kind: 'performance' },
          note: `IpamStore direct / bare ${ratio(s.p50, b.p50).toFixed(2)}×; plugin path − IpamStore direct ${(p.p50 - s.p50).toFixed(3)} ms vs the trivial plugin's whole round trip ${h.p50.toFixed(3)} ms`,
        },
        {
          id: 'latency.p99-ratio',
          name: 'p99 plugin path / bare txn',
          value: ratio(p.p99, b.p99),
          unit: '×',
          note: `${count} calls of each kind`,
        },
        {
          id: 'latency.duplicates',
          name: 'addresses handed out twice',
          value: duplicates,
          unit: '',
          digits: 0,
          target: { op: '==', value: 0, kind: 'invariant' },
          note: `${seen.size} distinct addresses`,
        },
      ];
      return figures;
    } finally {
      await worker?.terminate();
      setup.close();
      await plugin.stop();
      await trivial.stop();
      await store.close();
      await etcd.stop();
    }
  },
};
