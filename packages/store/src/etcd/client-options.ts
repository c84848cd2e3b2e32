/**
 * The etcd3 client settings the store's retries (etcd/attempts.ts) are written for. The store does
 * not build its client, but its fault handling only works with these, so they live next to it
 * and the app (and the tests) spread them into their etcd3 options.
 *
 * Why not etcd3's defaults: its per-host breaker opens after 3 consecutive recoverable errors
 * and stays open 5 s, and an election makes every member answer with such errors for a moment,
 * so a 0.2 s election turned into 5 s of "circuit breaker is open" on every host (issue 12).
 *
 * - host policy: a member that did not answer at all (deadline exceeded, connection refused)
 *   is skipped for a short cool-down, so the next attempts go to the others instead of waiting
 *   on a frozen member again (etcd3 shuffles the hosts on each call and only moves on to the
 *   next one when the host policy blocks the call). Answers such as "no leader" do not count:
 *   that member is alive, and so is its verdict a moment later. When every member is cooling
 *   down none is skipped: that is what a stall of our own process looks like (a long GC pause,
 *   a starved CPU, SIGSTOP: every attempt on the wire times out at once), and blocking them
 *   all would fail calls for the cool-down when etcd is fine (a cockatiel breaker per host
 *   cannot know about the others, hence this small policy).
 * - global policy: none. EtcdCalls retries, with a fresh per-attempt deadline inside the
 *   caller's budget; a retry inside etcd3 would reuse the first attempt's deadline.
 * - `hasleader` metadata (etcd's require-leader) on every call: a member cut off from the
 *   quorum answers "no leader" at once instead of letting the call hang, and ends a watch
 *   stream (so a view watching it reloads instead of going silently stale).
 * - gRPC keepalive: a watch stream on a frozen member is noticed within seconds.
 */
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { BrokenCircuitError, type IDefaultPolicyContext, type IPolicy, noop } from 'cockatiel';
import { type CallOptionsFactory, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';

/** How long a member that did not answer is skipped (unless all are). */
export const HOST_COOL_DOWN_MS = 500;

/**
 * requireLeader adds etcd's require-leader metadata ("hasleader: true", the key etcd's own
 * clientv3.WithRequireLeader sets) to a call.
 */
export const requireLeader: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });

/** didNotAnswer: the member itself failed (nothing, or no connection), not its answer. */
function didNotAnswer(error: Error): boolean {
  if (error instanceof GRPCDeadlineExceededError) return true;
  return error instanceof GRPCUnavailableError && !error.message.includes('etcdserver:');
}

/**
 * CoolDown is one member's host policy: skip it (BrokenCircuitError, which makes etcd3 try the
 * next member) until `until`, unless every member of its group is cooling down too.
 */
/** Our policy never cancels a call (deadlines do), so every call can share one signal. */
const NEVER_ABORTED = new AbortController().signal;

class CoolDown implements IPolicy {
  declare readonly _altReturn: never;
  readonly onSuccess = noop.onSuccess;
  readonly onFailure = noop.onFailure;
  private until = 0;
  private readonly group: CoolDown[];

  constructor(group: CoolDown[]) {
    this.group = group;
    group.push(this);
  }

  private cooling(now: number): boolean {
    return this.until > now;
  }

  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T): Promise<T> {
    const now = Date.now();
    if (this.cooling(now) && !this.group.every((member) => member.cooling(now))) {
      throw new BrokenCircuitError('etcd member skipped: it did not answer a moment ago');
    }
    try {
      const result = await fn({ signal: NEVER_ABORTED });
      this.until = 0;
      return result;
    } catch (error) {
      if (error instanceof Error && didNotAnswer(error))
        this.until = Date.now() + HOST_COOL_DOWN_MS;
      throw error;
    }
  }
}

/** hostPolicies returns etcd3's `faultHandling.host`: one CoolDown per member, one group. */
export function hostPolicies(): (host: string) => IPolicy {
  const group: CoolDown[] = [];
  return () => new CoolDown(group);
}

/** ResilientClientOptions is the part of etcd3's IOptions these settings fill in. */
export interface ResilientClientOptions {
  faultHandling: { host: (host: string) => IPolicy; global: IPolicy };
  grpcOptions: Record<string, number>;
  defaultCallOptions: CallOptionsFactory;
}

/**
 * resilientClientOptions: spread into etcd3's options. `unaryDeadlineMs` is the backstop
 * deadline of unary calls nobody else gives one (the store always gives its own).
 */
export function resilientClientOptions(unaryDeadlineMs: number): ResilientClientOptions {
  return {
    faultHandling: { host: hostPolicies(), global: noop },
    grpcOptions: {
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 2000,
      // One watch response carries a whole revision: removing a pool deletes all its address
      // keys at once, and 65k deletes are more than grpc-js's 4 MiB default, which would break
      // the watch stream that every watch of this client shares. etcd bounds what it sends
      // (a request is at most --max-request-bytes, a response one revision), so accept it.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    },
    defaultCallOptions: (context) =>
      context.isStream
        ? { interceptors: [requireLeader] }
        : { deadline: new Date(Date.now() + unaryDeadlineMs), interceptors: [requireLeader] },
  };
}
