/**
 * NodeRegistration: one instance's claim to serve a NODE_ID, held under an etcd lease.
 *
 * NODE_ID names the owner of every hold, block claim and address record, and cleanup trusts it
 * as "this host"; it defaults to the hostname, and cloned VMs share hostnames. So an instance
 * registers before it writes anything as its host: it creates `nodes/<NodeId>` under a lease it
 * keeps alive, if absent. While another instance's registration is there, it serves nothing and
 * says why (naming both instances), and looks again until that one is gone: revoked by a clean
 * stop (a restart then serves at once), expired after a crash (within the TTL), or, where the
 * app can prove the holder was a process of this machine that is gone, deleted at once.
 *
 * Every write for the host is fenced on the registration's exact bytes (fences.ts, cas.ts), so
 * an instance that lost its lease (a partition, a long pause, a frozen VM) commits nothing as
 * that host afterwards, whatever its local state still believes; it registers again when it can.
 */
import { randomBytes } from 'node:crypto';
import type { Lease } from 'etcd3';
import type { StoreContext } from '../context.js';
import { StoreError } from '../errors.js';
import type { Fence } from '../etcd/fences.js';
import { toCompare } from '../etcd/guards.js';
import { getOp, kvsAt, putOp } from '../etcd/ops.js';
import { nowIso } from '../layout/records.js';
import {
  decideRegistration,
  describe,
  encodeRegistration,
  type HostRecord,
  type InstanceInfo,
  type Registration,
} from '../layout/registration-record.js';
import type { NodeId } from '../types.js';

/** RegistrationState is where an instance stands with its NODE_ID. */
export type RegistrationState =
  /** Registering (at start, or again after its lease lapsed); nothing served yet. */
  | { state: 'registering'; reason?: string }
  /** It holds the NODE_ID's registration: it serves. */
  | { state: 'serving'; since: string }
  /** Another live instance holds the NODE_ID: it serves nothing until that one is gone. */
  | { state: 'waiting'; holder: HostRecord }
  /** Stopped (its registration revoked). */
  | { state: 'stopped' };

/** RegistrationOptions tune a NodeRegistration; all optional. */
export interface RegistrationOptions {
  /** The lease's TTL in seconds, default 10: how long a crashed instance blocks its NODE_ID. */
  ttlSeconds?: number;
  /** How often a waiting or failing instance looks again, in ms (default 1000). */
  retryMs?: number;
  /** provablyDead: true only when the holder is known gone (see sameProcessGone). */
  provablyDead?: (holder: HostRecord) => boolean;
  /** Told of every change of state (for logs, health and metrics). */
  onState?: (state: RegistrationState) => void;
}

/** How long a write waits for a registration under way before it is refused. */
const REGISTERING_WAIT_MS = 2000;

/** REGISTRATION_TTL_SECONDS is the default lease TTL. */
export const REGISTRATION_TTL_SECONDS = 10;

/** NodeRegistration keeps one instance's registration of one NODE_ID (see the module comment). */
export class NodeRegistration {
  readonly node: NodeId;
  /** Random per instance: what tells two instances of one NODE_ID apart. */
  readonly instance: string;
  private readonly ctx: StoreContext;
  private readonly info: InstanceInfo;
  private readonly ttl: number;
  private readonly retryMs: number;
  private readonly provablyDead: (holder: HostRecord) => boolean;
  private readonly onState: ((state: RegistrationState) => void) | undefined;
  private current: RegistrationState = { state: 'registering' };
  private lease: Lease | undefined;
  /** The value written under the current lease: what every fenced write compares. */
  private value: string | undefined;
  /** When the last keepalive that etcd answered was sent (the lease runs TTL from then). */
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private attempting: Promise<void> | undefined;

  constructor(
    ctx: StoreContext,
    node: NodeId,
    info: InstanceInfo,
    options: RegistrationOptions = {},
  ) {
    this.ctx = ctx;
    this.node = node;
    this.info = info;
    this.instance = randomBytes(9).toString('base64url');
    this.ttl = Math.max(1, Math.round(options.ttlSeconds ?? REGISTRATION_TTL_SECONDS));
    this.retryMs = options.retryMs ?? 1000;
    this.provablyDead = options.provablyDead ?? (() => false);
    this.onState = options.onState;
    const key = ctx.keys.node(node);
    this.fence = {
      key,
      guard: async () => {
        // Registering takes one round trip: a write that comes meanwhile (the first Docker
        // call after a restart) waits for it rather than fail, but not for long.
        const until = Date.now() + REGISTERING_WAIT_MS;
        while (this.current.state === 'registering' && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        if (this.current.state !== 'serving' || this.value === undefined) throw this.refusal();
        return { key, holds: this.value };
      },
      refused: (kv) => {
        if (kv !== undefined && kv.value.toString() === this.value) return undefined;
        this.lapsed(kv ? 'another instance registered this NODE_ID' : 'its registration is gone');
        return this.refusal();
      },
    };
  }

  /** state is where this instance stands now. */
  get state(): RegistrationState {
    return this.current;
  }

  /** start registers in the background, and keeps at it until it serves (see the module comment). */
  start(): void {
    if (this.watchdog) return;
    // A lease etcd did not renew within its TTL is gone: stop serving before the fence says so.
    this.watchdog = setInterval(() => {
      if (this.current.state === 'serving' && Date.now() - this.renewedAt > this.ttl * 1000) {
        this.lapsed(`no keepalive answered for ${this.ttl} s`);
      }
    }, 250);
    this.watchdog.unref();
    this.schedule(0);
  }

  /**
   * serving resolves once this instance serves (for tests and start-up logs); it never rejects.
   */
  async serving(): Promise<void> {
    while (this.current.state !== 'serving') {
      if (this.current.state === 'stopped') throw new Error('registration stopped');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** problem says why this instance serves nothing now (undefined while it serves). */
  problem(): string | undefined {
    return this.current.state === 'serving' ? undefined : this.refusal().message;
  }

  /** fence is what writes for this host compare (fences.ts); IpamStore installs it. */
  readonly fence: Fence;

  /**
   * stop ends the registration: its key is deleted and its lease revoked, so another instance
   * (or this host restarted) serves at once, and the host's record says when it stopped.
   */
  async stop(): Promise<void> {
    const wasServing = this.current.state === 'serving';
    const value = this.value;
    this.setState({ state: 'stopped' });
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    await this.attempting?.catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    this.value = undefined;
    if (wasServing && value !== undefined) {
      const key = this.ctx.keys.node(this.node);
      const stopped: HostRecord = { ...(JSON.parse(value) as Registration), stoppedAt: nowIso() };
      await this.ctx.calls
        .commit('unregister node', {
          compare: [toCompare({ key, holds: value })],
          success: [
            { request_delete_range: { key: Buffer.from(key) } },
            putOp(this.ctx.keys.host(this.node), JSON.stringify(stopped)),
          ],
          failure: [],
        })
        .catch((error: unknown) =>
          this.ctx.logger.warn(
            { node: this.node, err: error },
            'could not unregister; the lease ends it',
          ),
        );
    }
    await lease
      ?.revoke({ deadline: new Date(Date.now() + this.ctx.calls.deadlineMs) })
      .catch(() => undefined);
  }

  private refusal(): StoreError {
    const s = this.current;
    const me = describe({ ...this.info, instance: this.instance });
    if (s.state === 'waiting') {
      return new StoreError(
        'NOT_REGISTERED',
        `NODE_ID ${this.node} is served by another kontena-ipam (${describe(s.holder)}); this one (${me}) serves nothing until that one stops or its lease expires. Two hosts must not share a NODE_ID: set a NODE_ID of its own on each`,
      );
    }
    const why = s.state === 'registering' && s.reason ? `: ${s.reason}` : '';
    return new StoreError(
      'NOT_REGISTERED',
      `NODE_ID ${this.node}: this kontena-ipam (${me}) does not hold its registration${why}; nothing is written in its name until it registers again`,
    );
  }

  private setState(next: RegistrationState): void {
    const before = this.current;
    this.current = next;
    if (before.state === next.state && !(next.state === 'waiting')) return;
    if (
      before.state === 'waiting' &&
      next.state === 'waiting' &&
      before.holder.instance === next.holder.instance
    ) {
      return;
    }
    const fields = { node: this.node, instance: this.instance };
    if (next.state === 'serving')
      this.ctx.logger.info(fields, `registered NODE_ID ${this.node}; serving`);
    if (next.state === 'waiting')
      this.ctx.logger.warn({ ...fields, holder: next.holder }, this.refusal().message);
    try {
      this.onState?.(next);
    } catch {
      // ignored on purpose: a listener must not break the registration
    }
  }

  /** lapsed: the lease (or the key) is gone while we served; stop serving, register again. */
  private lapsed(reason: string): void {
    if (this.current.state !== 'serving') return;
    this.ctx.logger.warn(
      { node: this.node, instance: this.instance, reason },
      `lost the registration of NODE_ID ${this.node} (${reason}); serving nothing until registered again`,
    );
    this.lease?.release();
    this.lease = undefined;
    this.value = undefined;
    this.setState({ state: 'registering', reason });
    this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.current.state === 'stopped') return;
    this.timer = setTimeout(() => {
      this.attempting = this.attempt().finally(() => {
        this.attempting = undefined;
      });
    }, ms);
    this.timer.unref();
  }

  /** attempt is one try to register: grant a lease if needed, then create-if-absent. */
  private async attempt(): Promise<void> {
    if (this.current.state === 'serving' || this.current.state === 'stopped') return;
    try {
      const id = await this.grant();
      const registration: Registration = {
        ...this.info,
        node: this.node,
        instance: this.instance,
        lease: BigInt(id).toString(16),
      };
      const value = encodeRegistration(registration);
      const key = this.ctx.keys.node(this.node);
      const res = await this.ctx.calls.commit('register node', {
        compare: [toCompare({ key, absent: true })],
        success: [
          { request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: id } },
          putOp(this.ctx.keys.host(this.node), value),
        ],
        failure: [getOp(key)],
      });
      if ((this.current.state as string) === 'stopped') return;
      const decision = res.succeeded
        ? ({ kind: 'ours' } as const)
        : decideRegistration(kvsAt(res, 0)[0], this.instance, this.provablyDead);
      switch (decision.kind) {
        case 'ours':
          this.value = value;
          this.setState({ state: 'serving', since: nowIso() });
          return;
        case 'retry':
          return this.schedule(0);
        case 'wait':
          this.setState({ state: 'waiting', holder: decision.holder });
          return this.schedule(this.retryMs);
        case 'take-over':
          this.ctx.logger.warn(
            { node: this.node, instance: this.instance, holder: decision.holder },
            `the registration of NODE_ID ${this.node} belongs to a process of this machine that is gone (${describe(decision.holder)}); taking over`,
          );
          await this.ctx.calls.commit('take over node', {
            compare: [toCompare({ key, modifiedAt: decision.modRevision })],
            success: [{ request_delete_range: { key: Buffer.from(key) } }],
            failure: [],
          });
          return this.schedule(0);
      }
    } catch (error) {
      if ((this.current.state as string) === 'stopped') return;
      const reason = error instanceof Error ? error.message : String(error);
      if (this.current.state !== 'waiting') this.setState({ state: 'registering', reason });
      this.ctx.logger.warn({ node: this.node, err: error }, 'could not register; retrying');
      this.schedule(this.retryMs);
    }
  }

  /** grant returns the current lease's id, granting one (kept alive) if there is none. */
  private async grant(): Promise<string> {
    if (!this.lease) {
      const lease = this.ctx.client.lease(this.ttl, {
        autoKeepAlive: true,
        deadline: new Date(Date.now() + this.ctx.calls.deadlineMs),
      });
      let firedAt = Date.now();
      lease.on('keepaliveFired', () => {
        firedAt = Date.now();
      });
      lease.on('keepaliveSucceeded', () => {
        if (this.lease === lease) this.renewedAt = firedAt;
      });
      lease.on('lost', (error: Error) => {
        if (this.lease === lease) this.lapsed(`its lease was lost: ${error.message}`);
      });
      this.lease = lease;
      this.renewedAt = Date.now();
    }
    const lease = this.lease;
    try {
      return await lease.grant();
    } catch (error) {
      if (this.lease === lease) this.lease = undefined;
      throw error;
    }
  }
}
