/**
 * trivialBackend is plugin-api.md's stand-in for the store: every call answers at once with the
 * same result, no etcd. With it, a request through the plugin costs only HTTP, validation,
 * routing and logging.
 */
import {
  type Allocation,
  type IpamBackend,
  type JoinedPool,
  type NodeId,
  type PoolId,
  parseAddress,
  parseSubnet,
} from './workspace.js';

/** trivialBackend answers every IpamBackend call at once (always the same pool and address). */
export function trivialBackend(_node: NodeId): IpamBackend {
  const subnet = parseSubnet('10.85.0.0/16');
  const address = parseAddress('10.85.0.2');
  const pool: JoinedPool = {
    id: 'bench' as PoolId,
    subnet,
    ipRange: undefined,
    gateway: parseAddress('10.85.0.1'),
    dynamic: false,
    createdAt: new Date().toISOString(),
    held: 1,
  };
  const allocation = (req: { pool: PoolId; node: NodeId }): Allocation => ({
    pool: req.pool,
    address,
    subnet,
    node: req.node,
    kind: 'endpoint',
    attrs: {},
    at: pool.createdAt,
  });
  return {
    requestPool: async () => pool,
    releasePool: async () => ({ removed: false, released: true }),
    requestAddress: async (req) => allocation(req),
    releaseAddress: async () => ({ released: true }),
    ping: async () => undefined,
  };
}
