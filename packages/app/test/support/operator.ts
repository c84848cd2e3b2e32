/**
 * Helpers for the operator-command tests: run `kontena-ipam <command>` in-process through
 * runCli with captured output, and seed a store through the real IpamStore.
 */
import { Writable } from 'node:stream';
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import { IpamStore, parseNodeId, parsePoolId } from '@kontena-ipam/store';
import { Etcd3 } from 'etcd3';
import { runCli } from '../../src/cli.js';

/** Captured is a finished in-process run. */
export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** runCommand runs one command line with exactly `env`; `tty` makes stdout look like a terminal. */
export async function runCommand(
  argv: string[],
  env: Record<string, string>,
  options: { tty?: boolean } = {},
): Promise<Captured> {
  const stdout = new Capture(options.tty ?? false);
  const stderr = new Capture(false);
  const code = await runCli({ argv, env, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let counter = 0;
/** uniquePrefix keeps tests sharing one etcd apart (KONTENA_IPAM_ETCD_PREFIX). */
export function uniquePrefix(): string {
  counter += 1;
  return `/op-${process.pid}-${counter}/`;
}

/** envFor is the environment of a command run against `endpoint` under `prefix`. */
export function envFor(endpoint: string, prefix: string): Record<string, string> {
  return {
    ETCD_ENDPOINT: endpoint,
    NODE_ID: 'node-a',
    KONTENA_IPAM_ETCD_PREFIX: prefix,
    KONTENA_IPAM_ETCD_TIMEOUT: '3000',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
  };
}

export const net = (s: string) => parseSubnet(s);
export const ip = (s: string) => parseAddress(s);
export const pool = (s: string) => parsePoolId(s);
export const node = (s: string) => parseNodeId(s);

/** Seeded is a store with the demo state the tests describe. */
export interface Seeded {
  client: Etcd3;
  store: IpamStore;
  close(): Promise<void>;
}

/** openSeedStore opens a store (and its own client) on `endpoint` under `prefix`. */
export function openSeedStore(endpoint: string, prefix: string): Seeded {
  const client = new Etcd3({ hosts: endpoint });
  const store = new IpamStore({ client, prefix, endpoint, deadlineMs: 3000 });
  return {
    client,
    store,
    async close() {
      await store.close();
      client.close();
    },
  };
}

/**
 * seedDemo writes, through the store: `kontena` 10.81.0.0/16 with ip-range 10.81.128.0/17 held
 * by node-a once and node-b twice (gateway, two endpoints, one aux); `small` 10.82.0.0/29 full
 * (gateway + 5 endpoints of node-a); `apps`, a dynamic pool held by node-a and node-b.
 */
export async function seedDemo(store: IpamStore): Promise<void> {
  const kontena = {
    network: pool('kontena'),
    subnet: net('10.81.0.0/16'),
    ipRange: net('10.81.128.0/17'),
  };
  await store.requestPool({ ...kontena, node: node('node-a') });
  await store.requestPool({ ...kontena, node: node('node-b') });
  await store.requestPool({ ...kontena, node: node('node-b') });
  await store.requestAddress({ pool: pool('kontena'), node: node('node-a'), kind: 'gateway' });
  await store.requestAddress({
    pool: pool('kontena'),
    node: node('node-a'),
    kind: 'endpoint',
    address: ip('10.81.128.10'),
    attrs: { mac: '02:42:0a:51:80:0a', endpoint: 'web-1' },
  });
  await store.requestAddress({
    pool: pool('kontena'),
    node: node('node-b'),
    kind: 'endpoint',
    address: ip('10.81.128.11'),
    attrs: { mac: '02:42:0a:51:80:0b', endpoint: 'web-2' },
  });
  await store.requestAddress({
    pool: pool('kontena'),
    node: node('node-b'),
    kind: 'aux',
    address: ip('10.81.0.250'),
  });
  await store.requestPool({
    network: pool('small'),
    node: node('node-a'),
    subnet: net('10.82.0.0/29'),
  });
  for (let i = 2; i <= 6; i++) {
    await store.requestAddress({
      pool: pool('small'),
      node: node('node-a'),
      kind: 'endpoint',
      address: ip(`10.82.0.${i}`),
      attrs: { endpoint: `db-${i}` },
    });
  }
  await store.requestPool({ network: pool('apps'), node: node('node-a') });
  await store.requestPool({ network: pool('apps'), node: node('node-b') });
}

/** withAges sets every age at the end of a table line ("1s", "3s") to "0s", for exact comparisons. */
export function withAges(text: string): string {
  return text.replace(/\b\d[smhd]$/gm, '0s');
}
