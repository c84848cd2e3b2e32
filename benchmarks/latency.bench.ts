/**
 * 1. Allocation latency: RequestAddress through the whole plugin path (HTTP on a unix socket →
 * validation → IpamStore → one etcd transaction) against the physical floor, a bare
 * create-if-absent transaction on the same etcd3 client. Sequential, one request at a time;
 * the three kinds of call take turns so that drift in the machine hits them alike.
 */
import { randomBytes } from 'node:crypto';
import { startBenchEtcd } from './etcd.js';
import { PluginClient, requestAddressBody, requestPoolBody } from './plugin-client.js';
import { startPlugin } from './plugin-host.js';
import type { Figure, Scenario } from './scenario.js';
import { ratio, summarize, timed } from './stats.js';
import { formatAddress, IpamStore, parseNodeId, parsePoolId } from './workspace.js';

const NETWORK = 'bench-latency';
const SUBNET = '10.81.0.0/16';

export const latency: Scenario = {
  id: 'latency',
  title: '1. Allocation latency',
  method:
    'Sequential RequestAddress calls through a real PluginServer on a unix socket (kept-alive connection, pino logging at info to /dev/null) backed by a real IpamStore, taking turns with a direct IpamStore.requestAddress and a bare etcd transaction (If key Create == 0 Then put, a record of the same size) on the same etcd3 client. The first calls of each kind are a warm-up and not counted.',
  async run(ctx) {
    const count = ctx.smoke ? 60 : 3000;
    const warmup = ctx.smoke ? 10 : 300;
    const etcd = await startBenchEtcd();
    const node = parseNodeId('bench-host');
    const client = etcd.client();
    const store = new IpamStore({ client, endpoint: etcd.endpoint });
    const plugin = await startPlugin({ backend: store, node });
    const http = new PluginClient(plugin.socketPath);
    try {
      await http.postOk('/IpamDriver.RequestPool', requestPoolBody(NETWORK, SUBNET));
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
      const viaPlugin = async (i: number): Promise<void> => {
        const body = await http.postOk(
          '/IpamDriver.RequestAddress',
          requestAddressBody(NETWORK, i),
        );
        remember((JSON.parse(body) as { Address: string }).Address.split('/')[0] as string);
      };
      const viaStore = async (): Promise<void> => {
        const got = await store.requestAddress({ pool, node, kind: 'endpoint', attrs: {} });
        remember(formatAddress(got.address));
      };
      const bare = async (i: number): Promise<void> => {
        const key = `/bench/bare/${i}`;
        const res = await client
          .if(key, 'Create', '==', 0)
          .then(client.put(key).value(value))
          .commit();
        if (!res.succeeded) throw new Error(`bare create of ${key} lost its compare`);
      };
      const samples = { plugin: [] as number[], store: [] as number[], bare: [] as number[] };
      const kinds = [
        ['plugin', viaPlugin],
        ['store', viaStore],
        ['bare', bare],
      ] as const;
      ctx.progress(`latency: ${warmup} + ${count} calls of each kind, sequential`);
      for (let i = 0; i < warmup + count; i++) {
        // Rotate the order each round: no kind always follows the same other kind.
        for (let k = 0; k < kinds.length; k++) {
          const [name, call] = kinds[(i + k) % kinds.length] as (typeof kinds)[number];
          const ms = await timed(() => call(i));
          if (i >= warmup) samples[name].push(ms);
        }
      }
      const p = summarize(samples.plugin);
      const s = summarize(samples.store);
      const b = summarize(samples.bare);
      const figures: Figure[] = [
        { id: 'latency.plugin-p50', name: 'plugin path p50', value: p.p50, unit: 'ms', digits: 3 },
        { id: 'latency.plugin-p99', name: 'plugin path p99', value: p.p99, unit: 'ms', digits: 3 },
        {
          id: 'latency.store-p50',
          name: 'IpamStore direct p50',
          value: s.p50,
          unit: 'ms',
          digits: 3,
        },
        {
          id: 'latency.store-p99',
          name: 'IpamStore direct p99',
          value: s.p99,
          unit: 'ms',
          digits: 3,
        },
        { id: 'latency.bare-p50', name: 'bare etcd txn p50', value: b.p50, unit: 'ms', digits: 3 },
        { id: 'latency.bare-p99', name: 'bare etcd txn p99', value: b.p99, unit: 'ms', digits: 3 },
        {
          id: 'latency.p50-ratio',
          name: 'p50 plugin path / bare txn',
          value: ratio(p.p50, b.p50),
          unit: '×',
          target: { op: '<=', value: 1.5, kind: 'performance' },
          note: `store direct / bare: ${ratio(s.p50, b.p50).toFixed(2)}×`,
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
      http.close();
      await plugin.close();
      await store.close();
      await etcd.stop();
    }
  },
};
