/**
 * Helpers for the operator-command tests: run `kontena-ipam <command>` in-process through
 * runCli with captured output, and seed a store through the real IpamStore.
 */
import { Writable } from 'node:stream';
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import {
  IpamStore,
  type NetworkName,
  type PoolId,
  parseNetworkName,
  parseNodeId,
  resilientClientOptions,
} from '@kontena-ipam/store';
import { startEtcd } from '@kontena-ipam/testing/etcd';
import { freePort } from '@kontena-ipam/testing/ports';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
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
/**
 * pool is a network's name and its IPv4 pool's id at once (the same text), so one value serves
 * as PoolRequest.network and wherever a PoolId goes. A `:v6` id is no network name: it throws.
 */
export const pool = (s: string): PoolId & NetworkName =>
  parseNetworkName(s) as PoolId & NetworkName;
export const node = (s: string) => parseNodeId(s);

/** Seeded is a store with the demo state the tests describe. */
export interface Seeded {
  client: Etcd3;
  store: IpamStore;
  close(): Promise<void>;
}

/** openSeedStore opens a store (and its own client) on `endpoint` under `prefix`. */
export function openSeedStore(endpoint: string, prefix: string, deadlineMs = 3000): Seeded {
  // The app's client settings (no 5 s circuit breaker): a just-started etcd on a loaded machine
  // must not fail the seeding.
  const client = new Etcd3({ hosts: endpoint, ...resilientClientOptions(deadlineMs) });
  const store = new IpamStore({ client, prefix, endpoint, deadlineMs });
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

/** Demo is the demo state (seedDemo) under a fresh prefix, with the environment to command it. */
export interface Demo {
  env: Record<string, string>;
  prefix: string;
  /** root is where the store's v2 keys start (`${prefix}v2/`). */
  root: string;
  client: Etcd3;
  store: IpamStore;
}

/** OperatorEtcd is the one etcd of an operator-command test file. */
export interface OperatorEtcd {
  /** endpoint of that etcd; read it inside hooks and tests only. */
  readonly endpoint: string;
  /** demo seeds the demo state under a fresh prefix; its store closes after the file. */
  demo(): Promise<Demo>;
}

/** useOperatorEtcd starts one etcd for the calling test file (beforeAll) and stops it after. */
export function useOperatorEtcd(): OperatorEtcd {
  let etcd: Awaited<ReturnType<typeof startEtcd>> | undefined;
  const opened: Seeded[] = [];
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    await etcd?.stop();
  });
  const endpoint = (): string => {
    if (!etcd) throw new Error('the test etcd starts in beforeAll: use it inside a test');
    return etcd.endpoint;
  };
  return {
    get endpoint() {
      return endpoint();
    },
    async demo() {
      const prefix = uniquePrefix();
      const seeded = openSeedStore(endpoint(), prefix);
      opened.push(seeded);
      await seedDemo(seeded.store);
      const { client, store } = seeded;
      return { env: envFor(endpoint(), prefix), prefix, root: `${prefix}v2/`, client, store };
    },
  };
}

/**
 * runWithoutEtcd runs `argv` against a loopback port where no etcd listens, with a 1 s etcd
 * deadline; `endpoint` is the address the error must name.
 */
export async function runWithoutEtcd(argv: string[]): Promise<Captured & { endpoint: string }> {
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const result = await runCommand(argv, {
    ...envFor(endpoint, uniquePrefix()),
    KONTENA_IPAM_ETCD_TIMEOUT: '1000',
  });
  return { ...result, endpoint };
}

/** withAges sets every age at the end of a table line ("1s", "3s") to "0s", for exact comparisons. */
export function withAges(text: string): string {
  return text.replace(/\b\d[smhd]$/gm, '0s');
}
