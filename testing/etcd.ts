/**
 * Real etcd for tests: each call starts members on random loopback ports with a temp data
 * dir, and stop() kills them and removes the dir. No mocks: the store's guarantees are
 * only worth what a real etcd proves. With `tls`, clients talk https and must show a
 * certificate signed by the test CA (testing/tls.ts).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';
import type { TestCerts } from './tls.js';

/** EtcdOptions configure every member of a test cluster. */
export interface EtcdOptions {
  /** Serve clients over TLS with these certificates, and require a client certificate. */
  tls?: TestCerts;
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly tls: TestCerts | undefined;
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

/** waitStopped spins until every thread of `pid` is stopped (state T), at most `ms`. */
function waitStopped(pid: number, ms: number): void {
  const until = Date.now() + ms;
  const stopped = (): boolean => {
    try {
      return readdirSync(`/proc/${pid}/task`).every((tid) => {
        // The state follows the command name, which is in parentheses and may hold spaces.
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        return state === 'T' || state === 't';
      });
    } catch {
      return true; // gone, or no /proc: nothing to wait for
    }
  };
  while (!stopped() && Date.now() < until) {
    // spin: the caller must not yield to the event loop before the member is frozen
  }
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

/** healthOf reads the member's /health, over https with the test client certificate when TLS is on. */
async function healthOf(member: EtcdMember): Promise<{ health?: string }> {
  const url = `${member.clientUrl}/health`;
  const tls = member.tls;
  if (!tls) {
    const res = await fetch(url, { signal: AbortSignal.timeout(500) });
    return (await res.json()) as { health?: string };
  }
  return await new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.clientCert),
        key: readFileSync(tls.clientKey),
        // No SNI: the server is an IP address, which SNI cannot carry (RFC 6066).
        servername: '',
        timeout: 500,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as { health?: string });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitHealthy(member: EtcdMember, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (member.process?.exitCode !== null && member.process?.exitCode !== undefined) {
      throw new Error(`etcd ${member.name} exited with ${member.process.exitCode}`);
    }
    try {
      const body = await healthOf(member);
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
  const tls = member.tls
    ? [
        '--cert-file',
        member.tls.serverCert,
        '--key-file',
        member.tls.serverKey,
        '--trusted-ca-file',
        member.tls.ca,
        '--client-cert-auth',
      ]
    : [];
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
      ...tls,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.resume();
  member.process = child;
}

/**
 * expectDistinctMembers checks that every member is its own live etcd: a member that lost its
 * port to another process exits, and its health check may have reached whoever holds the port.
 * Reported as "exited with" so startEtcdCluster starts the cluster again on fresh ports.
 */
async function expectDistinctMembers(members: EtcdMember[]): Promise<void> {
  if (members.length < 2 || members[0]?.tls) return;
  const ids = new Set<string>();
  for (const member of members) {
    const res = await fetch(`${member.clientUrl}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(2000),
    });
    const status = (await res.json()) as { header?: { member_id?: string } };
    if (status.header?.member_id) ids.add(status.header.member_id);
  }
  const dead = members.filter(
    (m) => m.process?.exitCode !== null || m.process?.signalCode !== null,
  );
  if (ids.size !== members.length || dead.length > 0) {
    throw new Error(
      `etcd cluster exited with ${ids.size} distinct live members of ${members.length} (a port was taken)`,
    );
  }
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
export async function startEtcdCluster(size = 1, options: EtcdOptions = {}): Promise<EtcdCluster> {
  // The ports come from the kernel's ephemeral range, which outgoing connections use too: one
  // may be taken between freePort() and etcd's bind, and that member exits at once. Start the
  // whole cluster again on fresh ports then (bounded); any other failure is reported as it is.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startCluster(size, options);
    } catch (error) {
      const portTaken = error instanceof Error && / exited with /.test(error.message);
      if (!portTaken || attempt >= 3) throw error;
    }
  }
}

async function startCluster(size: number, options: EtcdOptions): Promise<EtcdCluster> {
  const root = mkdtempSync(join(tmpdir(), 'kontena-ipam-etcd-'));
  const members: EtcdMember[] = [];
  const ports = await freePorts(2 * size);
  for (let i = 0; i < size; i++) {
    const name = `m${i}`;
    members.push({
      name,
      clientUrl: `${options.tls ? 'https' : 'http'}://127.0.0.1:${ports[2 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: join(root, name),
      tls: options.tls,
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
      const child = byName(name).process;
      child?.kill('SIGSTOP');
      // The kernel stops a process's threads one by one, after kill() returned: wait (briefly,
      // synchronously) until all are stopped, so a request sent next surely meets a frozen member.
      if (child?.pid !== undefined) waitStopped(child.pid, 500);
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
    await expectDistinctMembers(members);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** startEtcd starts a single-member etcd; `endpoint` is its client URL. */
export async function startEtcd(
  options: EtcdOptions = {},
): Promise<EtcdCluster & { endpoint: string }> {
  const cluster = await startEtcdCluster(1, options);
  return Object.assign(cluster, { endpoint: cluster.endpoints[0] as string });
}
