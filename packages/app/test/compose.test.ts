/**
 * docker/compose.yml against the docs' own commands (issue 20, item 7). Each `sh` block that
 * runs `docker compose -f docker/compose.yml up …` is run as written by bash, with a `docker`
 * on PATH that turns `docker compose … up …` into Debian's `docker-compose … config`; the
 * rendered file then says what each container would get. The plugin's own loadConfig reads the
 * plugin's environment, with the files it names found through the container's mounts, so "the
 * plugin exits 2 and restart-loops" is caught here. No image is pulled or built: the etcd
 * service's command line runs with Debian's etcd instead, and the plugin's default endpoint
 * reaches it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { etcdBinary } from '@kontena-ipam/testing/etcd';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config.js';
import { answers } from '../src/local-etcd.js';
import { openStore } from '../src/open-store.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE_UP = 'docker compose -f docker/compose.yml up';
const PLUGIN = 'kontena-ipam';
const CLEANUP = 'kontena-ipam-cleanup';

interface Service {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  network_mode?: string;
  working_dir?: string;
  healthcheck?: { test: string[] };
}
interface Rendered {
  services: Record<string, Service>;
  volumes?: Record<string, { name?: string }>;
}

const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-compose-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** shBlocks lists the ```sh blocks of the README and of every page in docs/. */
function shBlocks(): { file: string; block: string }[] {
  const pages = [
    'README.md',
    ...readdirSync(join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  return pages.flatMap((file) =>
    [...readFileSync(join(REPO, file), 'utf8').matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => ({
      file,
      block: m[1] as string,
    })),
  );
}

/** docsBlock is the one sh block of the docs that `matches`. */
function docsBlock(what: string, matches: (block: string) => boolean): string {
  const found = shBlocks().filter(({ block }) => matches(block));
  if (found.length === 0) throw new Error(`no sh block in README.md or docs/ ${what}`);
  return (found[0] as { block: string }).block;
}

// The README's `docker compose -f F up …`, rendered instead: `docker-compose -f F config`.
const SHIM = `#!/bin/sh
[ "$1" = compose ] || { echo "test shim: only docker compose" >&2; exit 97; }
shift
printf '%s\\n' "$@" > "$SHIM_ARGS"
files=""
while [ $# -gt 0 ]; do
  case "$1" in -f) files="$files -f $2"; shift 2 ;; *) shift ;; esac
done
exec docker-compose $files config
`;

/** render runs a docs block as written (with the shim) and parses what compose would run. */
function render(block: string, name: string): { rendered: Rendered; upArgs: string[] } {
  const bin = join(dir, `${name}-bin`);
  mkdirSync(bin);
  writeFileSync(join(bin, 'docker'), SHIM, { mode: 0o755 });
  const argsFile = join(dir, `${name}-args`);
  const result = spawnSync('bash', ['-euo', 'pipefail', '-c', block], {
    cwd: REPO,
    encoding: 'utf8',
    // Only what the block exports: nothing from this test's own environment leaks in.
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, SHIM_ARGS: argsFile },
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `the docs block exited ${result.status} (apt-get install -y docker-compose?):\n${result.stderr}`,
    );
  }
  return {
    rendered: parseYaml(result.stdout) as Rendered,
    upArgs: readFileSync(argsFile, 'utf8').trim().split('\n'),
  };
}

/** mounts lists a service's volumes as source → target. */
function mounts(service: Service): { source: string; target: string }[] {
  return (service.volumes ?? []).map((v) => {
    const [source = '', target = ''] = v.split(':');
    return { source, target };
  });
}

/**
 * pluginEnv is a service's environment for loadConfig on this machine: each path under a
 * mount becomes the mount's source, and each source in `hostDirs` the test's stand-in folder.
 */
function pluginEnv(service: Service, hostDirs: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...service.environment };
  for (const [name, value] of Object.entries(env)) {
    if (!name.endsWith('_FILE') || value === '') continue;
    const mount = mounts(service).find((m) => value.startsWith(`${m.target}/`));
    if (!mount) throw new Error(`${name}=${value} lies in no volume of the container`);
    const onHost = mount.source + value.slice(mount.target.length);
    const stand = Object.entries(hostDirs).find(([from]) => onHost.startsWith(`${from}/`));
    env[name] = stand ? stand[1] + onHost.slice(stand[0].length) : onHost;
  }
  return env;
}

/** valueIn reads `NAME=value` from a docs block (what the operator exports). */
function valueIn(block: string, name: string): string {
  const value = new RegExp(`\\b${name}=(\\S+)`).exec(block)?.[1];
  if (value === undefined) throw new Error(`the docs block sets no ${name}`);
  return value;
}

describe('the production recipe (N hosts, an existing etcd cluster) with docker/compose.yml', () => {
  const recipe = docsBlock(
    'runs the compose file with exported etcd settings',
    (b) => b.includes(COMPOSE_UP) && /^export ETCD_ENDPOINT=/m.test(b),
  );
  // The host folder the recipe names, stood in for by a folder of the test's.
  const certs = join(dir, 'certs');
  mkdirSync(certs);
  for (const file of ['ca.pem', 'client.pem', 'client.key'])
    writeFileSync(join(certs, file), 'pem');
  writeFileSync(join(certs, 'etcd-password'), 'from-the-file\n', { mode: 0o600 });

  it('as written: both containers get the same etcd settings, and the plugin accepts them', () => {
    const { rendered, upArgs } = render(recipe, 'recipe');
    // The services the recipe starts exist in the file.
    const started = upArgs.slice(upArgs.indexOf('up') + 1).filter((a) => !a.startsWith('-'));
    expect(started.sort()).toEqual([PLUGIN, CLEANUP]);
    const plugin = rendered.services[PLUGIN] as Service;
    const cleanup = rendered.services[CLEANUP] as Service;
    expect(cleanup.environment).toEqual(plugin.environment);
    expect(plugin.environment?.ETCD_ENDPOINT).toBe(valueIn(recipe, 'ETCD_ENDPOINT'));
    // The folder the recipe names is what both mount, not the project's empty default.
    const certsDir = valueIn(recipe, 'ETCD_CERTS_DIR');
    for (const service of [plugin, cleanup]) {
      expect(mounts(service)).toContainEqual({ source: certsDir, target: '/etc/kontena-ipam' });
    }
    const config = loadConfig(pluginEnv(plugin, { [certsDir]: certs }));
    expect(config.etcd).toMatchObject({
      endpoints: valueIn(recipe, 'ETCD_ENDPOINT').split(','),
      username: valueIn(recipe, 'ETCD_USERNAME'),
      password: 'from-the-file',
      caFile: join(certs, 'ca.pem'),
      certFile: join(certs, 'client.pem'),
      keyFile: join(certs, 'client.key'),
    });
    expect(config.nodeId).toBe(hostname());
    // The same for the cleanup, which reads the same variables.
    expect(loadConfig(pluginEnv(cleanup, { [certsDir]: certs })).etcd.password).toBe(
      'from-the-file',
    );
  });

  it('with ETCD_PASSWORD exported instead of the file (what an operator may do): passed on to both', () => {
    expect(recipe).toMatch(/\bETCD_PASSWORD_FILE=\S+/);
    const inline = recipe.replace(/\bETCD_PASSWORD_FILE=\S+/, 'ETCD_PASSWORD=inline-secret');
    const { rendered } = render(inline, 'inline');
    const certsDir = valueIn(recipe, 'ETCD_CERTS_DIR');
    for (const name of [PLUGIN, CLEANUP]) {
      const service = rendered.services[name] as Service;
      expect(service.environment?.ETCD_PASSWORD).toBe('inline-secret');
      expect(loadConfig(pluginEnv(service, { [certsDir]: certs })).etcd).toMatchObject({
        username: valueIn(recipe, 'ETCD_USERNAME'),
        password: 'inline-secret',
      });
    }
  });
});

describe('the one-host stack of docker/compose.yml', () => {
  const oneHost = docsBlock('starts the whole compose file', (b) =>
    b.split('\n').some((line) => line.startsWith(COMPOSE_UP) && !line.includes('--no-deps')),
  );
  let rendered: Rendered;
  let etcd: Service;
  let socketMount: { source: string; target: string } | undefined;
  beforeAll(() => {
    rendered = render(oneHost, 'one-host').rendered;
    etcd = rendered.services.etcd as Service;
    socketMount = mounts(etcd).find((m) => m.target === etcd.working_dir);
  });

  it('etcd has no network, listens only on a socket in a volume that only the plugin and the cleanup share, and is their default endpoint', () => {
    expect(etcd.network_mode).toBe('none');
    const urls = (etcd.command ?? []).filter((a) => /^--(listen|advertise)-.*-urls=/.test(a));
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) expect(url.split('=')[1]).toMatch(/^unix:\/\/[^/]/);
    expect(socketMount).toBeDefined();
    const { source, target } = socketMount as { source: string; target: string };
    expect(rendered.volumes?.[source]?.name).toBe('kontena-ipam-etcd-socket');
    const sharing = Object.entries(rendered.services)
      .filter(([, s]) => mounts(s).some((m) => m.source === source))
      .map(([name]) => name)
      .sort();
    expect(sharing).toEqual([PLUGIN, CLEANUP, 'etcd'].sort());
    for (const name of [PLUGIN, CLEANUP]) {
      const service = rendered.services[name] as Service;
      expect(mounts(service)).toContainEqual({ source, target });
      expect(service.environment?.ETCD_ENDPOINT).toMatch(new RegExp(`^unix://${target}/`));
    }
  });

  it("etcd's command line (run by Debian's etcd) serves on that socket; its healthcheck passes and the plugin's default config reaches it", async () => {
    const { target } = socketMount as { source: string; target: string };
    const dataMount = mounts(etcd).find((m) => m.target !== target) as { target: string };
    const sockets = join(dir, 'etcd-socket');
    const data = join(dir, 'etcd-data');
    mkdirSync(sockets, { mode: 0o700 });
    chmodSync(sockets, 0o700);
    // The container's paths, on this machine.
    const local = (text: string) =>
      text.replaceAll(target, sockets).replaceAll(dataMount.target, data);
    const [command, ...args] = (etcd.command ?? []).map(local);
    expect(command).toBe('etcd');
    const child = spawn(etcdBinary(), args, { cwd: sockets, stdio: 'ignore' });
    children.push(child);
    const plugin = rendered.services[PLUGIN] as Service;
    const endpoint = local(plugin.environment?.ETCD_ENDPOINT as string);
    const deadline = Date.now() + 30_000;
    while (!(await answers(endpoint))) {
      if (Date.now() > deadline) throw new Error(`etcd did not answer on ${endpoint}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [, ...health] = (etcd.healthcheck?.test ?? []).map(local);
    const check = spawnSync(health[0] as string, health.slice(1), {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 20_000,
    });
    expect(check.status).toBe(0);
    // The plugin's environment as compose gives it, with the socket where it is here.
    const env = { ...pluginEnv(plugin, {}), ETCD_ENDPOINT: endpoint, NODE_ID: 'node-a' };
    const opened = openStore(loadConfig(env), { logger: pino({ level: 'silent' }) });
    try {
      await opened.store.ping();
    } finally {
      await opened.close();
    }
    const tcp = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' }).stdout;
    expect(tcp).not.toContain(`pid=${child.pid},`);
    child.kill('SIGTERM');
    expect(existsSync(join(data, 'member'))).toBe(true);
  });
});
