/**
 * Which absent hosts `--forget-after` forgets now: the pure decision, given what listHosts read,
 * the clock, and what this process saw before.
 *
 * A host is absent when no instance holds its registration (`nodes/<NodeId>`). Its absence is
 * counted from its last clean stop (`stoppedAt` in `hosts/<NodeId>`), else from when this
 * cleanup process first saw it absent: a crash, a lost lease or a host that never registered
 * leaves no time behind, and counting from our own first sighting can only forget later than
 * the truth, never earlier. A sighting is of one instance: when the host's last registration
 * names another instance (it came back and went again), the count starts over.
 */
import type { HostStatus, NodeId } from '@kontena-ipam/store';

/**
 * MIN_FORGET_AFTER_MS: the shortest --forget-after. Below it a reboot, an upgrade or an etcd
 * outage of the host would look like a host gone for good, and forgetting frees live addresses.
 */
export const MIN_FORGET_AFTER_MS = 10 * 60_000;

/** Sighting is when this process first saw a host absent, and which instance it was last. */
export interface Sighting {
  instance: string | undefined;
  since: number;
}

/** AbsentHostsInput is what the decision reads. */
export interface AbsentHostsInput {
  hosts: readonly HostStatus[];
  /** This host: cleaned as itself, never forgotten. */
  self: NodeId;
  now: number;
  afterMs: number;
  /** What earlier runs of this process saw (empty on the first run). */
  sightings: ReadonlyMap<NodeId, Sighting>;
}

/** DueHost is a host to forget now, and for how long it has been absent. */
export interface DueHost {
  node: NodeId;
  absentMs: number;
  /** Where the count started: its clean stop, or this process's first sighting. */
  from: 'stopped' | 'first-seen';
}

/** AbsentHosts is the decision: the hosts due, and the sightings to keep for the next run. */
export interface AbsentHosts {
  due: DueHost[];
  sightings: Map<NodeId, Sighting>;
}

/** absentHosts decides (see the module comment); hosts with nothing to free are never due. */
export function absentHosts(input: AbsentHostsInput): AbsentHosts {
  const due: DueHost[] = [];
  const sightings = new Map<NodeId, Sighting>();
  for (const host of input.hosts) {
    if (host.node === input.self || host.live) continue;
    const instance = host.last?.instance;
    const before = input.sightings.get(host.node);
    const seen = before && before.instance === instance ? before : { instance, since: input.now };
    sightings.set(host.node, seen);
    // A pool's gateway stays the creator's while the pool lives: nothing to forget there.
    if (host.addresses - host.gateways === 0 && host.pools.length === 0) continue;
    const stopped = host.last?.stoppedAt ? Date.parse(host.last.stoppedAt) : Number.NaN;
    // stoppedAt is the stopped host's clock: skew between hosts shifts the count by the skew,
    // which MIN_FORGET_AFTER_MS dwarfs.
    const from = Number.isFinite(stopped) ? 'stopped' : 'first-seen';
    const absentMs = input.now - (from === 'stopped' ? stopped : seen.since);
    if (absentMs >= input.afterMs) due.push({ node: host.node, absentMs, from });
  }
  return { due, sightings };
}
