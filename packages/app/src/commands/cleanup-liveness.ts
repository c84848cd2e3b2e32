/**
 * Cleanup judges by liveness. NODE_ID is what cleanup trusts as "this host", and a clone with
 * the same NODE_ID sees the other host's addresses as its own with no container behind them;
 * a host that is only partitioned looks gone. So before each run, and fenced on every write:
 *   - cleaning this host: NODE_ID must be registered by a live instance on this very machine
 *     (the same boot id: clones differ there), and each write commits only while that
 *     registration lasts;
 *   - forgetting host X: X must hold no registration, and each write commits only while it
 *     still holds none.
 */
import { CleanupError } from '@kontena-ipam/cleanup';
import { type HostRecord, type IpamStore, isStoreError, type NodeId } from '@kontena-ipam/store';

/** Liveness is what the check compares with: this host's NODE_ID and this machine's boot id. */
export interface Liveness {
  node: NodeId;
  bootId: string | undefined;
}

/** registration reads a host's registration; etcd's failure comes out as cleanup's STORE_UNAVAILABLE. */
async function registration(store: IpamStore, node: NodeId): Promise<HostRecord | undefined> {
  try {
    return await store.registration(node);
  } catch (error) {
    if (!isStoreError(error, 'UNAVAILABLE')) throw error;
    throw new CleanupError('STORE_UNAVAILABLE', `${error.message}; nothing was changed`, {
      cause: error,
    });
  }
}

function who(r: HostRecord): string {
  return `instance ${r.instance} on host ${r.hostname}, pid ${r.pid}, since ${r.startedAt}`;
}

/**
 * fenceCleanup checks that this run may act (see the module comment) and fences the store's
 * writes for the host it acts for; CleanupError NOT_LIVE / HOST_LIVE (exit 1) when it may not.
 */
export async function fenceCleanup(
  store: IpamStore,
  here: Liveness,
  forgetNode: NodeId | undefined,
): Promise<void> {
  if (forgetNode !== undefined) {
    const live = await registration(store, forgetNode);
    if (live) {
      throw new CleanupError(
        'HOST_LIVE',
        `--forget-node ${forgetNode}: that host is live (${who(live)}); nothing was freed. Forget only a host that is gone for good: stop its kontena-ipam first`,
      );
    }
    store.actAs(forgetNode, { absent: true });
    return;
  }
  const live = await registration(store, here.node);
  if (!live) {
    throw new CleanupError(
      'NOT_LIVE',
      `NODE_ID ${here.node} has no live kontena-ipam (no registration in etcd): cleanup runs only beside the plugin that serves this host, so it frees nothing now. Start the plugin; if this host is gone for good, run --node ${here.node} --forget-node from another host`,
    );
  }
  if (here.bootId === undefined || live.bootId !== here.bootId) {
    throw new CleanupError(
      'NOT_LIVE',
      `NODE_ID ${here.node} is served by ${who(live)}, which is not this machine (its boot id differs): cleanup runs only on the machine that holds the registration, so it frees nothing. If two machines share this NODE_ID (a cloned VM), give each its own NODE_ID`,
    );
  }
  store.actAs(here.node, { held: live });
}
