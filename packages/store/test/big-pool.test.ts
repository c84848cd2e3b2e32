/**
 * Removing a pool deletes all its address keys in one revision, which etcd sends to a watcher
 * as one response. With 65k addresses that is more than grpc-js's default 4 MiB message limit:
 * a client with the defaults loses its watch stream (and every watch sharing it); a client with
 * the store's options (resilientClientOptions) receives it whole.
 */
import { Etcd3, type Watcher } from 'etcd3';
import { expect } from 'vitest';
import { resilientClientOptions } from '../src/index.js';
import { net, node, pool, test, uniquePrefix } from './harness.js';

// A network name as operators write them: with it, each delete event is ~90 bytes, and 65k of
// them are over grpc-js's 4 MiB.
const NAME = 'production-frontend-services-overlay-lan';
const BIG = pool(NAME);
const COUNT = 65_000;

/** fill writes COUNT address records of the big pool (10.60.0.0/16), 128 per transaction. */
async function fill(client: Etcd3, prefix: string): Promise<void> {
  const record = JSON.stringify({
    node: 'host-z',
    kind: 'endpoint',
    attrs: {},
    at: 'x',
    token: 't',
  });
  for (let start = 2; start < COUNT + 2; start += 128) {
    const txn = client.if(`${prefix}v2/guard/none`, 'Create', '==', 0);
    const ops = [];
    for (let i = start; i < Math.min(start + 128, COUNT + 2); i++) {
      ops.push(
        client.put(`${prefix}v2/addresses/${NAME}/10.60.${i >> 8}.${i & 255}`).value(record),
      );
    }
    await txn.then(...ops).commit();
  }
}

/** watchDeletes counts delete events under the big pool's addresses until told to stop. */
async function watchDeletes(client: Etcd3, prefix: string) {
  const seen = { deletes: 0, broken: [] as string[] };
  const watcher: Watcher = await client.watch().prefix(`${prefix}v2/addresses/${NAME}/`).create();
  watcher
    .on('delete', () => {
      seen.deletes++;
    })
    .on('disconnected', () => seen.broken.push('disconnected'))
    .on('error', (error) => seen.broken.push(String(error)));
  return { seen, watcher };
}

test('removing a 65k-address pool breaks no watch of a client with the store options', async ({
  env,
}) => {
  const prefix = uniquePrefix();
  const client = new Etcd3({ hosts: env.etcd.endpoint, ...resilientClientOptions(5000) });
  const plain = new Etcd3({ hosts: env.etcd.endpoint });
  env.clients.push(client, plain);
  const store = env.store({ prefix, client });
  const owner = node('host-a');
  await store.requestPool({ network: BIG, node: owner, subnet: net('10.60.0.0/16') });
  await fill(client, prefix);
  const ours = await watchDeletes(client, prefix);
  const defaults = await watchDeletes(plain, prefix);
  expect(await store.releasePool({ pool: BIG, node: owner })).toEqual({
    removed: true,
    released: true,
  });
  // COUNT filled plus the gateway record.
  for (let i = 0; i < 200 && ours.seen.deletes < COUNT + 1; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(ours.seen).toEqual({ deletes: COUNT + 1, broken: [] });
  // The contrast, so that this test can fail: grpc-js's default limit loses the response.
  for (let i = 0; i < 100 && defaults.seen.broken.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(defaults.seen.deletes).toBe(0);
  expect(defaults.seen.broken.length).toBeGreaterThan(0);
  await ours.watcher.cancel();
}, 120_000);
