/**
 * `pnpm chaos [--smoke] [--only id,id]`: the fault suite. For each fault, a fresh 3-member
 * etcd (loopback, `--heartbeat-interval=10 --election-timeout=100`), 2 real `kontena-ipam`
 * processes with 8 Docker-shaped request/release loops each, the fault injected and healed,
 * then the outcome read back from etcd. Prints a table; the full form of every fault rewrites
 * RELIABILITY.md.
 *
 * Exit status: 1 when an address was granted twice, an acknowledged address is missing from
 * etcd, a plugin process died, a plugin's calls did not get through while etcd was whole
 * (before the fault: all must succeed; after its heal: some must), or a fault could not be run.
 * Failed calls during the fault and latencies never change it (they are the measurement, and
 * the machine may be busy); RELIABILITY.md says whether the goals were met.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startEtcdCluster } from '@kontena-ipam/testing/etcd';
import { etcdFaults, type Fault, sleep } from './chaos-faults.js';
import { identityFaults } from './chaos-identity.js';
import { startFleet } from './chaos-load.js';
import {
  type FaultOutcome,
  printOutcomes,
  summarizeFault,
  writeReliability,
} from './chaos-report.js';
import { machineFacts } from './machine.js';

/** faults are every row of RELIABILITY.md: etcd's, then a host identity's. */
const faults: readonly Fault[] = [...etcdFaults, ...identityFaults];

function parseArgs(argv: readonly string[]): { smoke: boolean; only?: Set<string> } {
  let smoke = false;
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--smoke') smoke = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const list = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      only = new Set((list ?? '').split(',').filter(Boolean));
      const unknown = [...only].filter((id) => !faults.some((f) => f.id === id));
      if (unknown.length > 0 || only.size === 0) {
        throw new Error(`--only takes fault ids from: ${faults.map((f) => f.id).join(', ')}`);
      }
    } else if (arg !== '--') {
      throw new Error(`unknown argument ${arg}; usage: pnpm chaos [--smoke] [--only id,id]`);
    }
  }
  return only ? { smoke, only } : { smoke };
}

async function runFault(fault: Fault, smoke: boolean): Promise<FaultOutcome> {
  const etcd = await startEtcdCluster(3);
  try {
    const fleet = await startFleet(etcd, {
      count: 2,
      loops: 8,
      subnet: '10.90.0.0/16',
      network: 'chaos',
    });
    const marks: Array<{ name: string; at: number }> = [];
    const load = loadavg()[0] ?? 0;
    try {
      await sleep(smoke ? 1000 : 3000);
      await fault.run({
        etcd,
        fleet,
        smoke,
        mark: (name) => marks.push({ name, at: fleet.now() }),
      });
      await sleep(smoke ? 1000 : 3000);
      await fleet.stopLoad();
      // Heal whatever is still broken so that etcd can be read back.
      for (const plugin of fleet.plugins) plugin.child.kill('SIGCONT');
      for (const member of etcd.members) {
        if (member.process) etcd.thawMember(member.name);
        else await etcd.startMember(member.name);
      }
      const crashed = fleet.plugins
        .map((p, i) => (p.child.exitCode !== null || p.child.signalCode !== null ? i : -1))
        .filter((i) => i >= 0)
        .map((i) => `${fleet.nodes[i]}: ${fleet.plugins[i]?.output().slice(-2000)}`);
      const { missing, leftovers } = await fleet.check(etcd);
      return summarizeFault(fault, {
        plugins: fleet.plugins.length,
        calls: fleet.calls,
        duplicates: fleet.duplicates,
        missing,
        leftovers,
        crashed,
        marks,
        load,
      });
    } finally {
      await fleet.close();
    }
  } finally {
    await etcd.stop();
  }
}

async function main(): Promise<number> {
  const { smoke, only } = parseArgs(process.argv.slice(2));
  const facts = machineFacts();
  const started = performance.now();
  console.log(
    `kontena-ipam fault suite, ${smoke ? 'smoke (short holds)' : 'full'}: ${facts.cpu} × ${facts.cores}, Node ${facts.node}, etcd ${facts.etcd.version}`,
  );
  const outcomes: FaultOutcome[] = [];
  let broken = false;
  for (const fault of faults) {
    if (only ? !only.has(fault.id) : smoke && !fault.smoke) continue;
    process.stderr.write(`  … ${fault.id}: ${fault.title}\n`);
    try {
      const outcome = await runFault(fault, smoke);
      outcomes.push(outcome);
      if (outcome.broken.length > 0) {
        broken = true;
        for (const line of outcome.broken) console.error(`${fault.id}: ${line}`);
      }
    } catch (error) {
      broken = true;
      console.error(`${fault.id} could not run: ${error instanceof Error ? error.stack : error}`);
    }
  }
  printOutcomes(outcomes);
  const seconds = (performance.now() - started) / 1000;
  if (!smoke && !only && !broken) {
    console.log(`wrote ${writeReliability({ facts, outcomes, seconds, cores: cpus().length })}`);
  }
  return broken ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
