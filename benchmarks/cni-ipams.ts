/**
 * The IPAM plugins the CNI benchmark can put under Debian's macvlan plugin: `host-local` (the
 * floor a CNI user compares with; as a subject too, it shows how much two equal sides differ)
 * and kontena-ipam as a CNI user installs it. Each is set up for one network name and subnet and says what it
 * still holds after the run (every ADD was followed by a DEL, so that must be nothing).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEBIAN_CNI_DIR } from '@kontena-ipam/testing/cni';
import { hostLocalIpam } from '@kontena-ipam/testing/cni-config';
import { startBenchEtcd } from './etcd.js';

/** IpamUnderTest is one IPAM plugin, ready to be named in a network config's `ipam`. */
export interface IpamUnderTest {
  /** name says which IPAM this is, for the table. */
  readonly name: string;
  /** cniPath is CNI_PATH: the folder holding the executable named by ipam.type, then /usr/lib/cni. */
  readonly cniPath: readonly string[];
  /** ipam is the network config's `ipam` section. */
  readonly ipam: Record<string, unknown>;
  /** executable is the IPAM plugin itself, timed alone for its start (CNI_COMMAND=VERSION). */
  readonly executable: string;
  /** held counts the addresses the IPAM still holds for the network. */
  held(): Promise<number>;
  stop(): Promise<void>;
}

/** IpamSetupOptions say where an IPAM may keep files and which network it serves. */
export interface IpamSetupOptions {
  /** dir is a temp folder of the benchmark's, removed after the run. */
  dir: string;
  /** network is the CNI network's name (the config's `name`). */
  network: string;
  subnet: string;
}

/** IpamSetup prepares one IPAM for the benchmark. */
export type IpamSetup = (options: IpamSetupOptions) => Promise<IpamUnderTest>;

/** hostLocal is Debian's host-local, its state in the benchmark's temp folder. */
export const hostLocal: IpamSetup = async ({ dir, network, subnet }) => {
  const dataDir = join(dir, `host-local-${network}`);
  return {
    name: 'host-local',
    cniPath: [DEBIAN_CNI_DIR],
    ipam: hostLocalIpam({ subnet, dataDir }),
    executable: join(DEBIAN_CNI_DIR, 'host-local'),
    async held() {
      const records = join(dataDir, network);
      if (!existsSync(records)) return 0;
      return readdirSync(records).filter((f) => /^[\d.]+$|:/.test(f)).length;
    },
    async stop() {
      // host-local has no process; its files go with the temp folder.
    },
  };
};

/** APP_BIN is the built kontena-ipam (`pnpm bench` builds first). */
const APP_BIN = fileURLToPath(new URL('../packages/app/dist/bin/kontena-ipam.js', import.meta.url));
/** STORE_PREFIX is where the store keeps its keys (the default prefix). */
const STORE_PREFIX = '/kontena/ipam/v2/';

/** answers says whether kontena-ipam answers Plugin.Activate on `socket`. */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/Plugin.Activate', method: 'POST' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** startDaemon runs the app's bin as a host runs it and resolves once its socket answers. */
async function startDaemon(socket: string, endpoint: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [APP_BIN], {
    env: {
      PATH: process.env.PATH,
      NODE_ID: 'cni-bench',
      ETCD_ENDPOINT: endpoint,
      KONTENA_IPAM_SOCKET: socket,
      LOG_FORMAT: 'json',
    },
    // The production log level (info: a line per call), read and dropped but for the last lines.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`kontena-ipam exited ${child.exitCode}:\n${tail}`);
    if (await answers(socket)) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`kontena-ipam did not answer on ${socket} within 30 s`);
}

/** stopDaemon stops the bin with SIGTERM (SIGKILL after 10 s). */
async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * kontenaIpam is the product as a CNI user installs it: a fresh etcd, the app's bin serving on
 * a socket (NODE_ID cni-bench), and the client installed by `kontena-ipam install-cni DIR` (the
 * native client shipped for this host; with `kind` 'node', `--node-client`: the node launcher
 * that hosts without a shipped binary get), with `ipam.socket` naming the bin's socket.
 */
export function kontenaIpam(kind: 'native' | 'node' = 'native'): IpamSetup {
  return async (options) => {
    const pluginDir = join(options.dir, 'cni-bin');
    const args = ['install-cni', ...(kind === 'node' ? ['--node-client'] : []), pluginDir];
    const install = spawnSync(process.execPath, [APP_BIN, ...args], { encoding: 'utf8' });
    const wanted = kind === 'node' ? 'the node client' : 'the native client';
    if (install.status !== 0 || !install.stdout.includes(wanted)) {
      throw new Error(
        `kontena-ipam install-cni did not install ${wanted}: ${install.stdout}${install.stderr}`,
      );
    }
    const subject = await servedIpam(options, pluginDir);
    return kind === 'node' ? { ...subject, name: 'kontena-ipam (node client)' } : subject;
  };
}

/** servedIpam starts etcd and the bin for the client installed in `pluginDir`. */
async function servedIpam(
  { dir, network, subnet }: IpamSetupOptions,
  pluginDir: string,
): Promise<IpamUnderTest> {
  const etcd = await startBenchEtcd();
  const socket = join(dir, 'kontena-ipam.sock');
  let daemon: ChildProcess;
  try {
    daemon = await startDaemon(socket, etcd.endpoint);
  } catch (error) {
    await etcd.stop();
    throw error;
  }
  const client = etcd.client();
  return {
    name: 'kontena-ipam',
    cniPath: [pluginDir, DEBIAN_CNI_DIR],
    ipam: { type: 'kontena-ipam', network, subnet, socket },
    executable: join(pluginDir, 'kontena-ipam'),
    async held() {
      // Every DEL frees its attachment and address; the last one removes the pool too.
      const keys = await client.getAll().prefix(STORE_PREFIX).keys();
      return keys.filter((k) => /\/(addresses|attachments)\//.test(k)).length;
    },
    async stop() {
      await stopDaemon(daemon);
      await etcd.stop();
    },
  };
}
