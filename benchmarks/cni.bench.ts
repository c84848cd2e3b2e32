/**
 * 8. CNI ADD+DEL: what a container runtime pays per attachment when the IPAM is ours. Debian's
 * macvlan plugin (the real caller) is exec'd inside a host namespace of the benchmark's own,
 * exactly as libcni does, and it execs the IPAM named by the config; each sample is one ADD
 * then its DEL, timed from spawn to exit. The IPAM under test runs in the same run as
 * `host-local` (the floor a CNI user compares with), the two interleaved, each on a subnet of
 * its own. Every ADD must succeed with an address in the subnet and every DEL must succeed:
 * a failed call fails the run, --smoke included. The IPAM's own start is timed too
 * (CNI_COMMAND=VERSION, nothing but the executable's start and its answer).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEBIAN_CNI_DIR, macvlanConfig, type TestNetns } from '@kontena-ipam/testing/cni';
import {
  type BenchNamespaces,
  inNetns,
  makeNamespaces,
  requireCni,
  type TimedOutcome,
  timedCni,
} from './cni-exec.js';
import { hostLocal, type IpamSetup, type IpamUnderTest, kontenaIpam } from './cni-ipams.js';
import type { Figure, Scenario } from './scenario.js';
import { ratio, summarize } from './stats.js';

const FLOOR = { network: 'cnib-floor', subnet: '10.70.0.0/22', prefix: '10.70.' };
const SUBJECT = { network: 'cnib-subject', subnet: '10.72.0.0/22', prefix: '10.72.' };
/** STARTS is how many times each IPAM executable and the nsenter floor are started alone. */
const STARTS = 20;

/** Side is one IPAM in the run: its setup, config and what it measured. */
interface Side {
  ipam: IpamUnderTest;
  config: Record<string, unknown>;
  prefix: string;
  pairs: number[];
  failures: string[];
}

/** addressOf is the first address of an ADD's result, or undefined when there is none. */
function addressOf(stdout: string): string | undefined {
  try {
    const result = JSON.parse(stdout) as { ips?: Array<{ address?: unknown }> };
    const address = result.ips?.[0]?.address;
    return typeof address === 'string' ? address : undefined;
  } catch {
    return undefined;
  }
}

/** call runs one verb through macvlan for attachment `id` in container namespace `netns`. */
function call(
  side: Side,
  ns: BenchNamespaces,
  attachment: { id: string; netns: TestNetns; ifname: string },
  command: 'ADD' | 'DEL',
): Promise<TimedOutcome> {
  return timedCni({
    plugin: join(DEBIAN_CNI_DIR, 'macvlan'),
    prefix: inNetns(ns.host.name),
    command,
    containerId: attachment.id,
    netns: attachment.netns.path,
    ifname: attachment.ifname,
    // What Podman passes (K8S_POD_NAME is the container's name).
    args: `IgnoreUnknown=1;K8S_POD_NAME=${attachment.id}`,
    cniPath: side.ipam.cniPath,
    config: side.config,
  });
}

/** added says whether an ADD succeeded with an address of the side's subnet (else records why). */
function added(side: Side, add: TimedOutcome): boolean {
  if (add.code === 0 && addressOf(add.stdout)?.startsWith(side.prefix)) return true;
  side.failures.push(`${side.ipam.name} ADD exited ${add.code}: ${add.stdout || add.stderr}`);
  return false;
}

/** deleted says whether a DEL succeeded (else records why). */
function deleted(side: Side, del: TimedOutcome): boolean {
  if (del.code === 0) return true;
  side.failures.push(`${side.ipam.name} DEL exited ${del.code}: ${del.stdout || del.stderr}`);
  return false;
}

/** addDel runs one ADD and its DEL through macvlan; it records the pair's time or the failure. */
async function addDel(side: Side, ns: BenchNamespaces, id: string): Promise<void> {
  const attachment = { id, netns: ns.container, ifname: 'eth0' };
  const add = await call(side, ns, attachment, 'ADD');
  const addOk = added(side, add);
  const del = await call(side, ns, attachment, 'DEL');
  if (deleted(side, del) && addOk) {
    side.pairs.push(add.ms + del.ms);
  } else {
    // A DEL whose IPAM failed leaves eth0 behind; remove it so the next pair starts clean.
    spawnSync('ip', ['-n', ns.container.name, 'link', 'del', 'eth0']);
  }
}

/** medianStart is the median time, in ms, of STARTS execs of `plugin` (VERSION, no namespace). */
async function medianStart(plugin: string, prefix: readonly string[] = []): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const outcome = await timedCni({
      plugin,
      prefix,
      command: 'VERSION',
      config: { cniVersion: '1.0.0' },
    });
    if (outcome.code !== 0) {
      throw new Error(`${plugin} VERSION exited ${outcome.code}: ${outcome.stdout}`);
    }
    times.push(outcome.ms);
  }
  return summarize(times).p50;
}

/** makeSide sets up one IPAM for its network and the macvlan config naming it. */
async function makeSide(
  setup: IpamSetup,
  dir: string,
  net: typeof FLOOR,
  master: string,
): Promise<Side> {
  const ipam = await setup({ dir, network: net.network, subnet: net.subnet });
  const config = macvlanConfig({ name: net.network, master, ipam: ipam.ipam });
  return { ipam, config, prefix: net.prefix, pairs: [], failures: [] };
}

/** measure runs `rounds` ADD+DEL pairs on each side, interleaved (the order alternates). */
async function measure(sides: [Side, Side], ns: BenchNamespaces, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const [first, second] = i % 2 === 0 ? sides : ([sides[1], sides[0]] as const);
    await addDel(first, ns, `cnibench${i.toString(16).padStart(8, '0')}a`);
    await addDel(second, ns, `cnibench${i.toString(16).padStart(8, '0')}b`);
  }
}

/** oneLine squeezes a plugin's pretty-printed error onto one line for the table. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** figures turns the run into the table's rows. */
function figures(
  floor: Side,
  subject: Side,
  starts: { floor: number; subject: number; nsenter: number },
  held: number,
): Figure[] {
  const f = summarize(floor.pairs);
  const s = summarize(subject.pairs);
  const failures = [...floor.failures, ...subject.failures];
  const who = subject.ipam.name;
  return [
    { id: 'cni.floor-p50', name: 'macvlan + host-local ADD+DEL p50', value: f.p50, unit: 'ms' },
    { id: 'cni.floor-p99', name: 'macvlan + host-local ADD+DEL p99', value: f.p99, unit: 'ms' },
    { id: 'cni.p50', name: `macvlan + ${who} ADD+DEL p50`, value: s.p50, unit: 'ms' },
    { id: 'cni.p99', name: `macvlan + ${who} ADD+DEL p99`, value: s.p99, unit: 'ms' },
    {
      id: 'cni.p50-ratio',
      name: `ADD+DEL p50: ${who} / host-local`,
      value: ratio(s.p50, f.p50),
      unit: '×',
      target: { op: '<=', value: 1.5, kind: 'performance' },
      note: `p99 ratio ${ratio(s.p99, f.p99).toFixed(2)}×; ${s.count} pairs each, interleaved`,
    },
    {
      id: 'cni.start',
      name: `${who} executable alone (VERSION), median of ${STARTS}`,
      value: starts.subject,
      unit: 'ms',
      note: `host-local: ${starts.floor.toFixed(1)} ms; nsenter --net alone: ${starts.nsenter.toFixed(1)} ms (in every ADD and DEL above)`,
    },
    {
      id: 'cni.failed',
      name: 'ADD or DEL calls that failed',
      value: failures.length,
      unit: '',
      digits: 0,
      // As the other scenarios' failed requests: reported at full size, fatal in a smoke run.
      target: { op: '==', value: 0, kind: 'performance', smoke: 'invariant' },
      ...(failures.length > 0 ? { note: failures.slice(0, 3).map(oneLine).join(' | ') } : {}),
    },
    {
      id: 'cni.held',
      name: 'addresses still held after every DEL',
      value: held,
      unit: '',
      digits: 0,
      target: { op: '==', value: 0, kind: 'invariant' },
    },
  ];
}

/**
 * cniScenario measures macvlan ADD+DEL with the IPAM `subject` sets up against host-local.
 * With host-local as the subject too, the ratio says how much two equal sides differ.
 */
export function cniScenario(subject: IpamSetup): Scenario {
  return {
    id: 'cni',
    title: '8. CNI ADD+DEL through macvlan',
    method:
      "Debian's macvlan plugin (containernetworking-plugins 1.1.1) is exec'd as libcni does (CNI_* environment, the network config on stdin, cniVersion 1.0.0) under `nsenter --net` in a host namespace of the benchmark's own (the master is one end of a veth pair), putting eth0 in a container namespace; it execs the IPAM the config names. A sample is one ADD and its DEL, timed from spawn to exit, while one resident attachment per network stays for the whole run (a host's other containers: kontena-ipam's pool stays in place). The IPAM under test and host-local run interleaved in the same run, each on a subnet of its own; every ADD must return an address in its subnet and every DEL must succeed. The IPAM executable's own start is its median over 20 VERSION calls.",
    async run(ctx) {
      requireCni();
      const rounds = ctx.smoke ? 5 : 300;
      const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-cnib-'));
      const ns = makeNamespaces('cnib');
      const sides: Side[] = [];
      try {
        sides.push(await makeSide(hostLocal, dir, FLOOR, ns.master));
        sides.push(await makeSide(subject, dir, SUBJECT, ns.master));
        const [floor, tested] = sides as [Side, Side];
        ctx.progress(
          `cni: ${tested.ipam.name} against host-local, warm-up then ${rounds} pairs each`,
        );
        // A resident attachment keeps the subject's pool in place, as a host's other containers
        // on the network would (without one, kontena-ipam's last DEL gives the pool back and
        // every ADD creates it again).
        // One namespace holds both sides' residents, each on an interface of its own.
        const residents = sides.map((_, i) => ({
          id: 'cnibench-resident',
          netns: ns.resident,
          ifname: `res${i}`,
        }));
        for (const [i, side] of sides.entries()) {
          added(side, await call(side, ns, residents[i] as (typeof residents)[0], 'ADD'));
        }
        await measure([floor, tested], ns, ctx.smoke ? 1 : 5);
        for (const side of sides) side.pairs.length = 0;
        await measure([floor, tested], ns, rounds);
        for (const [i, side] of sides.entries()) {
          deleted(side, await call(side, ns, residents[i] as (typeof residents)[0], 'DEL'));
        }
        const starts = {
          floor: await medianStart(floor.ipam.executable),
          subject: await medianStart(tested.ipam.executable),
          nsenter: await medianStart('/bin/true', inNetns(ns.host.name)),
        };
        const held = (await floor.ipam.held()) + (await tested.ipam.held());
        return figures(floor, tested, starts, held);
      } finally {
        for (const side of sides) await side.ipam.stop();
        ns.remove();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * cni is the scenario `pnpm bench` runs: kontena-ipam, as install-cni installs it, against
 * host-local. Two switches, read outside turbo (pnpm bench runs node directly):
 * KONTENA_CNI_BENCH_IPAM=host-local puts host-local against itself (how far apart two equal
 * sides come out), KONTENA_CNI_BENCH_IPAM=node-client measures the node launcher that hosts
 * without a shipped native client get.
 */
// biome-ignore lint/suspicious/noUndeclaredEnvVars: see above
const benchIpam = process.env.KONTENA_CNI_BENCH_IPAM;
export const cni: Scenario = cniScenario(
  benchIpam === 'host-local'
    ? hostLocal
    : kontenaIpam(benchIpam === 'node-client' ? 'node' : 'native'),
);
