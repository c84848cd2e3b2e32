/**
 * 6. Plugin overhead: requests per second on the socket when the store costs nothing (a
 * trivial IpamBackend stand-in answers at once), against the same node:http server with an
 * empty handler. The difference is what routing, validation, error handling and the log line
 * cost per request. Servers run in a worker thread (a core of their own); the load generator
 * keeps 64 requests in flight on kept-alive connections.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { PluginClient, requestAddressBody } from './plugin-client.js';
import type { ServerMode } from './plugin-overhead.server.js';
import type { Figure, Scenario } from './scenario.js';
import { inFlight, ratio } from './stats.js';
import { startTsWorker } from './ts-worker.js';

const IN_FLIGHT = 64;

/** ServerWorker is one server in its worker thread and a client for its socket. */
interface ServerWorker {
  mode: ServerMode;
  worker: Worker;
  client: PluginClient;
  /** totals over the measured rounds */
  requests: number;
  ms: number;
  /** busy: the server thread's event-loop utilization while measured (1 = saturated). */
  busy: number[];
  /** activeMs: time the server thread spent working (not waiting) while measured. */
  activeMs: number;
}

async function startServer(mode: ServerMode, socketPath: string): Promise<ServerWorker> {
  const worker = await startTsWorker(new URL('./plugin-overhead.server.ts', import.meta.url), {
    mode,
    socketPath,
  });
  return {
    mode,
    worker,
    client: new PluginClient(socketPath, IN_FLIGHT),
    requests: 0,
    ms: 0,
    busy: [],
    activeMs: 0,
  };
}

async function stopServer(server: ServerWorker): Promise<void> {
  server.client.close();
  await new Promise<void>((resolve) => {
    server.worker.once('message', () => resolve());
    server.worker.postMessage('stop');
  });
  await server.worker.terminate();
}

/** load sends `count` RequestAddress calls with 64 in flight; every reply must be 200. */
function load(server: ServerWorker, count: number): Promise<number> {
  return inFlight(count, IN_FLIGHT, async (i) => {
    await server.client.postOk('/IpamDriver.RequestAddress', requestAddressBody('bench', i));
  });
}

export const pluginOverhead: Scenario = {
  id: 'plugin-overhead',
  title: '6. Plugin overhead',
  method:
    "RequestAddress calls with 64 in flight over kept-alive unix-socket connections, to three servers each in its own worker thread: the real PluginServer over a trivial IpamBackend (answers at once; plugin-api.md's stand-in), logging at info (the app's default: one JSON line per request, to /dev/null) and at warn (no line per request), and the same node:http server whose handler drains the body and answers `{}`. Rounds alternate between the servers. Requests/s is set by whichever side saturates first (often the load generator); the server thread's working time per request (its event-loop utilization times the wall time, over the requests) is the figure compared.",
  async run(ctx) {
    const perRound = ctx.smoke ? 500 : 20_000;
    const rounds = ctx.smoke ? 1 : 3;
    const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-bench-'));
    const servers: ServerWorker[] = [];
    try {
      for (const mode of ['plugin', 'plugin-quiet', 'empty'] as const) {
        servers.push(await startServer(mode, join(dir, `${mode}.sock`)));
      }
      ctx.progress(`plugin overhead: warm-up, then ${rounds} × ${perRound} requests per server`);
      for (const server of servers) await load(server, Math.min(perRound, 5000));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < servers.length; k++) {
          const server = servers[(r + k) % servers.length] as ServerWorker;
          const before = server.worker.performance.eventLoopUtilization();
          server.ms += await load(server, perRound);
          server.requests += perRound;
          const elu = server.worker.performance.eventLoopUtilization(before);
          server.busy.push(elu.utilization);
          server.activeMs += elu.active;
        }
      }
      const rate = (s: ServerWorker): number => (s.requests / s.ms) * 1000;
      const busy = (s: ServerWorker): string =>
        `server thread busy ${Math.round(100 * Math.min(...s.busy))}–${Math.round(100 * Math.max(...s.busy))}%`;
      const [plugin, quiet, empty] = servers as [ServerWorker, ServerWorker, ServerWorker];
      // Server thread time per request: valid whoever the bottleneck was (the load generator,
      // one Node thread, cannot always keep a server thread busy).
      const cost = (s: ServerWorker): number => (1000 * s.activeMs) / s.requests;
      const usPer = (a: ServerWorker, b: ServerWorker): number => cost(a) - cost(b);
      const figures: Figure[] = [
        {
          id: 'plugin-overhead.plugin',
          name: 'PluginServer, trivial backend, log at info',
          value: rate(plugin),
          unit: 'requests/s',
          digits: 0,
          note: `${busy(plugin)}; ${cost(plugin).toFixed(1)} µs of server thread per request`,
        },
        {
          id: 'plugin-overhead.plugin-quiet',
          name: 'PluginServer, trivial backend, log at warn',
          value: rate(quiet),
          unit: 'requests/s',
          digits: 0,
          note: `${busy(quiet)}; ${cost(quiet).toFixed(1)} µs of server thread per request`,
        },
        {
          id: 'plugin-overhead.empty',
          name: 'node:http, empty handler',
          value: rate(empty),
          unit: 'requests/s',
          digits: 0,
          note: `${busy(empty)}; ${cost(empty).toFixed(1)} µs of server thread per request`,
        },
        {
          id: 'plugin-overhead.ratio',
          name: 'server thread time per request: PluginServer (info) / empty handler',
          value: ratio(cost(plugin), cost(empty)),
          unit: '×',
          note: `requests/s ratio ${ratio(rate(plugin), rate(empty)).toFixed(2)}× (set by the load generator when the servers are not saturated); ${rounds} × ${perRound} requests per server`,
        },
        {
          id: 'plugin-overhead.cost',
          name: 'server thread time added per request (info)',
          value: usPer(plugin, empty),
          unit: 'µs',
          digits: 1,
          note: `routing, validation, error table, deadline and the log line; the log line alone ≈ ${usPer(plugin, quiet).toFixed(1)} µs`,
        },
      ];
      return figures;
    } finally {
      await Promise.all(servers.map(stopServer));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
