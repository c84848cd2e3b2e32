/**
 * Real etcd for tests: each call starts members on random loopback ports with a temp data
 * dir, and stop() kills them and removes the dir. No mocks: the store's guarantees are
 * only worth what a real etcd proves.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  process: ChildProcess | undefined;
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  /** Comma-joined client URLs of every member. */
  readonly endpoints: string[];
  /** Kill one member (SIGKILL unless told otherwise) and wait for it to exit. */
  stopMember(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Start a stopped member again on the same ports and data. */
  startMember(name: string): Promise<void>;
  /** Freeze one member (SIGSTOP): its sockets stay open and nothing answers. */
  freezeMember(name: string): void;
  /** Thaw a frozen member (SIGCONT). */
  thawMember(name: string): void;
  /** Find the current leader's name via the members' status endpoints. */
  leader(): Promise<string | undefined>;
  stop(): Promise<void>;
}

export function etcdBinary(): string {
  const fromEnv = process.env.ETCD_BIN;
  const candidates = [fromEnv, 'etcd', '/usr/bin/etcd', '/usr/local/bin/etcd'].filter(
    (c): c is string => Boolean(c),
  );
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  throw new Error(
    'No etcd binary found. Install it with `apt-get install -y etcd-server` (Debian) or set ETCD_BIN to its path. Tests need a real etcd.',
  );
}

async function waitHealthy(member: EtcdMember, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (member.process?.exitCode !== null && member.process?.exitCode !== undefined) {
      throw new Error(`etcd ${member.name} exited with ${member.process.exitCode}`);
    }
    try {
      const res = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(500) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
      lastError = JSON.stringify(body);
    } catch (error) {
      lastError = String(error);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd ${member.name} not healthy after ${timeoutMs} ms: ${lastError}`);
}

function launch(member: EtcdMember, initialCluster: string, state: 'new' | 'existing'): void {
  const child = spawn(
    etcdBinary(),
    [
      '--name',
      member.name,
      '--data-dir',
      member.dataDir,
      '--listen-client-urls',
      member.clientUrl,
      '--advertise-client-urls',
      member.clientUrl,
      '--listen-peer-urls',
      member.peerUrl,
      '--initial-advertise-peer-urls',
      member.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      state,
      '--initial-cluster-token',
      'kontena-ipam-test',
      '--heartbeat-interval',
      '10',
      '--election-timeout',
      '100',
      '--log-level',
      'error',
      '--logger',
      'zap',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.resume();
  member.process = child;
}

async function kill(member: EtcdMember, signal: NodeJS.Signals): Promise<void> {
  const child = member.process;
  member.process = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** startEtcdCluster starts `size` members (1 for most tests, 3 for failure tests). */
export async function startEtcdCluster(size = 1): Promise<EtcdCluster> {
  const root = mkdtempSync(join(tmpdir(), 'kontena-ipam-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    const name = `m${i}`;
    members.push({
      name,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(root, name),
      process: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const byName = (name: string): EtcdMember => {
    const member = members.find((m) => m.name === name);
    if (!member) throw new Error(`no etcd member ${name}`);
    return member;
  };
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async stopMember(name, signal = 'SIGKILL') {
      await kill(byName(name), signal);
    },
    async startMember(name) {
      const member = byName(name);
      launch(member, initialCluster, 'existing');
      await waitHealthy(member, 15_000);
    },
    freezeMember(name) {
      byName(name).process?.kill('SIGSTOP');
    },
    thawMember(name) {
      byName(name).process?.kill('SIGCONT');
    },
    async leader() {
      for (const member of members) {
        if (!member.process) continue;
        try {
          const res = await fetch(`${member.clientUrl}/v3/maintenance/status`, {
            method: 'POST',
            body: '{}',
            signal: AbortSignal.timeout(1000),
          });
          const status = (await res.json()) as { header?: { member_id?: string }; leader?: string };
          if (status.leader && status.header?.member_id === status.leader) return member.name;
        } catch {
          // a dead or partitioned member cannot say; ask the next one
        }
      }
      return undefined;
    },
    async stop() {
      // A frozen member still dies of SIGKILL; thaw it anyway so nothing waits on it.
      for (const m of members) m.process?.kill('SIGCONT');
      await Promise.all(members.map((m) => kill(m, 'SIGKILL')));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (const member of members) launch(member, initialCluster, 'new');
    await Promise.all(members.map((m) => waitHealthy(m, 20_000)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** startEtcd starts a single-member etcd; `endpoint` is its client URL. */
export async function startEtcd(): Promise<EtcdCluster & { endpoint: string }> {
  const cluster = await startEtcdCluster(1);
  return Object.assign(cluster, { endpoint: cluster.endpoints[0] as string });
}
