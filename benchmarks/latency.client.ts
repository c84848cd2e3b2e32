/**
 * The Docker side of scenario 1, in a worker thread (Docker is another process): for each
 * message { target, n } it sends one RequestAddress to that socket and answers with the round
 * trip in ms and the address it got. The main thread's own calls (store direct, bare etcd) take
 * turns with these, never overlapping.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PluginClient, requestAddressBody } from './plugin-client.js';
import { timed } from './stats.js';

/** LatencyAsk is one request for the worker; LatencyReply its answer. */
export interface LatencyAsk {
  target: string;
  n: number;
}
export type LatencyReply = { ms: number; address: string } | { error: string };

const { sockets, network } = workerData as { sockets: Record<string, string>; network: string };
const clients = new Map(
  Object.entries(sockets).map(([name, path]) => [name, new PluginClient(path)]),
);

parentPort?.on('message', ({ target, n }: LatencyAsk) => {
  const client = clients.get(target);
  if (!client) {
    parentPort?.postMessage({ error: `no socket named ${target}` });
    return;
  }
  let address = '';
  timed(async () => {
    const body = await client.postOk('/IpamDriver.RequestAddress', requestAddressBody(network, n));
    address = (JSON.parse(body) as { Address: string }).Address;
  }).then(
    (ms) => parentPort?.postMessage({ ms, address } satisfies LatencyReply),
    (error: unknown) => parentPort?.postMessage({ error: String(error) } satisfies LatencyReply),
  );
});
parentPort?.postMessage('ready');
