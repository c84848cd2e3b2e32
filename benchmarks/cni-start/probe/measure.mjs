// Times how each client variant starts, does one CNI call over a unix socket and exits:
// `node measure.mjs [OUT] [filter] [rounds]` after `build.sh OUT`. Variants run round-robin
// (20 rounds by default) so load changes hit them alike; each row is the wall time from spawn to
// exit (median, p90, min) and the CPU time the child used (utime + stime, from /proc/self/stat's
// cutime/cstime in 10 ms ticks, averaged over the rounds).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const OUT = process.argv[2] ?? '/tmp/kontena-ipam-start-probe';
const only = process.argv[3] ? new RegExp(process.argv[3]) : undefined;
const node = process.execPath;
const repo = new URL('../../../', import.meta.url).pathname;
const socket = join(OUT, 'd.sock');
const at = (file) => join(OUT, file);

const variants = {
  'exec floor: /bin/true': ['/bin/true'],
  'C, glibc dynamic': [at('client-c')],
  'C, glibc static': [at('client-c-static')],
  'C, musl static': [at('client-c-musl')],
  'Go 1.19 static': [at('client-go')],
  'Go 1.19 static, kontena-ipam wire contract (packages/cni/native)': [at('client-go-real')],
  'node -e 0': [node, '-e', '0'],
  'node client.cjs': [node, at('client.cjs')],
  'node client.mjs': [node, at('client.mjs')],
  'node --v8-pool-size=0 client.cjs': [node, '--v8-pool-size=0', at('client.cjs')],
  'node --jitless client.cjs': [node, '--jitless', at('client.cjs')],
  'node --no-opt --v8-pool-size=0 client.cjs': [
    node,
    '--no-opt',
    '--v8-pool-size=0',
    at('client.cjs'),
  ],
  'node --snapshot-blob (startup snapshot)': [node, '--snapshot-blob', at('snap.blob')],
  'node single executable + code cache': [at('client-sea-code-cache')],
  'node single executable + snapshot': [at('client-sea-snapshot')],
  'kontena-ipam-cni, install-cni --node-client (sh + node)': [at('cni-bin/kontena-ipam')],
  'kontena-ipam-cni: node dist/bin directly': [
    node,
    join(repo, 'packages/app/dist/bin/kontena-ipam-cni.js'),
  ],
  'kontena-ipam-cni bundled into one file': [node, at('cni-bundle.mjs')],
  'bun client.mjs': [at('node_modules/bun/bin/bun.exe'), at('client.mjs')],
  'bun build --compile': [at('client-bun')],
  'bun build --compile --bytecode': [at('client-bun-bc')],
  'deno run': [at('node_modules/@deno/linux-x64-glibc/deno'), 'run', '-A', at('client.mjs')],
};

const names = Object.keys(variants).filter(
  (n) => (!only || only.test(n)) && existsSync(variants[n][0]),
);
const rounds = Number(process.argv[4] ?? 20);
const stdin = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'probe',
  type: 'macvlan',
  ipam: { type: 'kontena-ipam', network: 'probe', socket },
});
const env = {
  PATH: process.env.PATH,
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'probe0123',
  CNI_NETNS: '/run/netns/probe',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/usr/lib/cni',
  KONTENA_IPAM_SOCKET: socket,
};
const bare = (name) => name.startsWith('exec floor') || name === 'node -e 0';

/** childTicks is the CPU time, in clock ticks, of every child this process has waited for. */
function childTicks() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return Number(fields[13]) + Number(fields[14]);
}

function runOnce(name) {
  const [bin, ...args] = variants[name];
  const c0 = childTicks();
  const t0 = performance.now();
  const res = spawnSync(bin, args, { input: stdin, env });
  const ms = performance.now() - t0;
  const cpu = (childTicks() - c0) * 10;
  if (!bare(name) && (res.status !== 0 || !String(res.stdout).includes('10.0.0.5/24'))) {
    throw new Error(`${name} exited ${res.status}: ${res.stdout}${res.stderr}`);
  }
  return { ms, cpu };
}

const server = spawn(node, [at('server.mjs'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => server.stdout.once('data', resolve));
try {
  const samples = Object.fromEntries(names.map((n) => [n, { ms: [], cpu: [] }]));
  for (const name of names) runOnce(name); // page cache warm
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length];
      const { ms, cpu } = runOnce(name);
      samples[name].ms.push(ms);
      samples[name].cpu.push(cpu);
    }
  }
  const sorted = (a) => [...a].sort((x, y) => x - y);
  const fmt = (v) => v.toFixed(1).padStart(7);
  console.log(`load ${readFileSync('/proc/loadavg', 'utf8').trim()}, ${rounds} rounds`);
  for (const n of names) {
    const s = sorted(samples[n].ms);
    const cpu = samples[n].cpu.reduce((a, b) => a + b, 0) / samples[n].cpu.length;
    const median = s[Math.floor(s.length / 2)];
    const p90 = s[Math.ceil(0.9 * s.length) - 1];
    console.log(
      `${n.padEnd(58)} median ${fmt(median)} ms  p90 ${fmt(p90)}  min ${fmt(s[0])}  cpu ${fmt(cpu)} ms`,
    );
  }
} finally {
  server.kill();
  rmSync(socket, { force: true });
}
