/**
 * The faults `pnpm chaos` injects into a 3-member etcd (or, for the last one, into a plugin)
 * while the fleet's loops run. Each one breaks something, waits, and heals it again, so that
 * every run ends with the whole cluster up and the outcome can be read back from etcd.
 */
import type { EtcdCluster } from '@kontena-ipam/testing/etcd';
import type { Fleet } from './chaos-load.js';
import { etcd3 } from './workspace.js';

/** FaultContext is what a fault acts on. */
export interface FaultContext {
  etcd: EtcdCluster;
  fleet: Fleet;
  smoke: boolean;
  /** mark notes a moment of the fault (ms since the load started), for the report. */
  mark(name: string): void;
}

/** Fault is one row of RELIABILITY.md. */
export interface Fault {
  id: string;
  title: string;
  /** Part of `--smoke` (the short form in .ci/run). */
  smoke: boolean;
  /**
   * An etcd fault during which a quorum stays up: the goal "no Docker call fails" applies
   * (reported in RELIABILITY.md, never judged by the exit status).
   */
  quorum: boolean;
  run(ctx: FaultContext): Promise<void>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** leaderOf asks the members which one leads (retrying through an election). */
export async function leaderOf(etcd: EtcdCluster): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const name = await etcd.leader();
    if (name) return name;
    await sleep(100);
  }
  throw new Error('etcd has no leader');
}

async function followerOf(etcd: EtcdCluster): Promise<string> {
  const leader = await leaderOf(etcd);
  const follower = etcd.members.find((m) => m.name !== leader && m.process);
  if (!follower) throw new Error('no follower');
  return follower.name;
}

/** How long a fault lasts: the full form holds it 10 s, the smoke form 2 s. */
const hold = (ctx: FaultContext) => (ctx.smoke ? 2000 : 10_000);

/** etcdFaults break etcd (chaos-identity.ts has the faults of a host's identity). */
export const etcdFaults: readonly Fault[] = [
  {
    id: 'follower-kill',
    title: 'a follower SIGKILLed, restarted after the hold',
    smoke: false,
    quorum: true,
    async run(ctx) {
      const name = await followerOf(ctx.etcd);
      ctx.mark('kill');
      await ctx.etcd.stopMember(name, 'SIGKILL');
      await sleep(hold(ctx));
      await ctx.etcd.startMember(name);
      ctx.mark('restarted');
    },
  },
  {
    id: 'leader-kill',
    title: 'the leader SIGKILLed (the other two keep quorum), restarted after the hold',
    smoke: true,
    quorum: true,
    async run(ctx) {
      const name = await leaderOf(ctx.etcd);
      ctx.mark('kill');
      await ctx.etcd.stopMember(name, 'SIGKILL');
      await sleep(hold(ctx));
      await ctx.etcd.startMember(name);
      ctx.mark('restarted');
    },
  },
  {
    id: 'leader-freeze',
    title: 'the leader frozen (SIGSTOP: sockets open, nothing answers), then SIGCONT',
    smoke: true,
    quorum: true,
    async run(ctx) {
      const name = await leaderOf(ctx.etcd);
      ctx.mark('freeze');
      ctx.etcd.freezeMember(name);
      await sleep(hold(ctx));
      ctx.etcd.thawMember(name);
      ctx.mark('thaw');
    },
  },
  {
    id: 'member-restart',
    title: 'each member in turn SIGTERMed and started again at once (a rolling restart)',
    smoke: false,
    quorum: true,
    async run(ctx) {
      for (const member of ctx.etcd.members) {
        ctx.mark(`stop ${member.name}`);
        await ctx.etcd.stopMember(member.name, 'SIGTERM');
        await ctx.etcd.startMember(member.name);
        await sleep(ctx.smoke ? 500 : 2000);
      }
    },
  },
  {
    id: 'quorum-loss',
    title: '2 of 3 members SIGKILLed (no quorum), both restarted after the hold',
    smoke: false,
    quorum: false,
    async run(ctx) {
      const leader = await leaderOf(ctx.etcd);
      const follower = await followerOf(ctx.etcd);
      ctx.mark('kill');
      await Promise.all([
        ctx.etcd.stopMember(leader, 'SIGKILL'),
        ctx.etcd.stopMember(follower, 'SIGKILL'),
      ]);
      await sleep(hold(ctx));
      ctx.mark('restart');
      // startMember waits until the member reports healthy, which needs a leader: the quorum.
      const starts = [ctx.etcd.startMember(leader), ctx.etcd.startMember(follower)];
      await Promise.race(starts);
      ctx.mark('quorum');
      await Promise.all(starts);
      await sleep(1000);
      await leaderOf(ctx.etcd);
    },
  },
  {
    id: 'compaction-paused-plugin',
    title:
      'a plugin and its Docker paused (SIGSTOP; 4 s, smoke 2 s) while the other writes and etcd compacts past its watch',
    smoke: true,
    // Not an etcd fault: the paused plugin's own calls in flight are at stake (docs/etcd-failures.md, a host that was paused).
    quorum: false,
    async run(ctx) {
      // Paused for less than the store's 5 s budget: the calls the paused plugin had in flight
      // are Docker's too, and a budget measured in wall-clock time runs out during a longer
      // pause (a host frozen that long fails its in-flight calls, as Docker's would time out).
      const pause = Math.min(hold(ctx), 4000);
      ctx.mark('pause plugin');
      ctx.fleet.pause(0);
      await sleep(pause / 2);
      const client = new etcd3.Etcd3({ hosts: ctx.etcd.endpoints });
      try {
        const { header } = await client.kv.range({ key: Buffer.from('/') });
        await client.kv.compact({ revision: header.revision, physical: true });
        ctx.mark(`compacted at ${header.revision}`);
      } finally {
        client.close();
      }
      await sleep(pause / 2);
      ctx.fleet.resume(0);
      ctx.mark('resume plugin');
    },
  },
];
