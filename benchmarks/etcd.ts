/**
 * etcd for the benchmarks: the tests' harness (testing/etcd.ts: a fresh single member on
 * loopback with a temp data dir), plus what the benchmarks need on top: clients that are closed
 * with it, the server's version, and its Prometheus counters (to count write transactions,
 * failed compares included, independently of the store).
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { type EtcdCluster, etcdBinary, startEtcd } from '@kontena-ipam/testing/etcd';
import { etcd3, resilientClientOptions } from './workspace.js';

type Etcd3 = InstanceType<typeof etcd3.Etcd3>;

/** BenchEtcd is one fresh etcd and the clients made for it. */
export interface BenchEtcd {
  readonly endpoint: string;
  /** client makes a new etcd3 client (its own gRPC channel), closed by stop(). */
  client(): Etcd3;
  /** counter reads one of etcd's Prometheus counters (0 when absent). */
  counter(name: string): Promise<number>;
  stop(): Promise<void>;
}

/** WRITES_COUNTER counts raft proposals: every write transaction, whether its compare held or not. */
export const WRITES_COUNTER = 'etcd_server_proposals_committed_total';

/** startBenchEtcd starts a fresh single-member etcd. */
export async function startBenchEtcd(): Promise<BenchEtcd> {
  const cluster: EtcdCluster & { endpoint: string } = await startEtcd();
  const clients: Etcd3[] = [];
  return {
    endpoint: cluster.endpoint,
    client() {
      // The client options the app gives its own client (no per-host breaker, require-leader,
      // keepalive), so the figures are the product's.
      const resilient = resilientClientOptions(5000);
      const client = new etcd3.Etcd3({
        hosts: cluster.endpoint,
        ...resilient,
        grpcOptions: {
          ...resilient.grpcOptions,
          // The naive allocator lists a whole /16 per request: a few MB, over gRPC's 4 MiB default.
          'grpc.max_receive_message_length': 64 * 1024 * 1024,
        },
      });
      clients.push(client);
      return client;
    },
    async counter(name) {
      const res = await fetch(`${cluster.endpoint}/metrics`);
      const text = await res.text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line ? Number(line.slice(name.length + 1)) : 0;
    },
    async stop() {
      for (const client of clients.splice(0)) client.close();
      await cluster.stop();
    },
  };
}

/** EtcdFacts describe the etcd the figures were taken on. */
export interface EtcdFacts {
  version: string;
  /** fsync says whether etcd syncs its WAL to disk on each commit, and on what file system. */
  fsync: string;
}

/** etcdFacts asks the binary for its version and says how it syncs. */
export function etcdFacts(): EtcdFacts {
  const bin = etcdBinary();
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const version = /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? 'unknown';
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  const canSkip = `${help.stdout}${help.stderr}`.includes('unsafe-no-fsync');
  const fs = spawnSync('stat', ['-f', '-c', '%T', tmpdir()], { encoding: 'utf8' }).stdout?.trim();
  // The harness never passes --unsafe-no-fsync: every commit waits for the WAL fsync.
  const fsync = canSkip
    ? 'on (the harness does not pass --unsafe-no-fsync)'
    : `on (etcd ${version} has no switch to turn it off)`;
  return {
    version,
    fsync: `${fsync}; data dir in ${tmpdir()} on ${fs || 'an unknown file system'}`,
  };
}
