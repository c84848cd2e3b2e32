/**
 * Run-time checks of attach and detach requests: the branded types say their ids were parsed,
 * but every one of them ends up inside an etcd key (a '/' would reach into another key).
 */

import type { AttachRequest, DetachRequest } from '../attachment-types.js';
import { MAX_NETNS, parseContainerId, parseIfName } from '../attachment-types.js';
import { StoreError } from '../errors.js';
import { type PoolId, parseNodeId, parsePoolId, poolIdFor } from '../types.js';

/** checkAttachRequest checks an AttachRequest and adds the pool it is for. */
export function checkAttachRequest(req: AttachRequest): AttachRequest & { pool: PoolId } {
  parseNodeId(req.node);
  parseContainerId(req.ref.container);
  parseIfName(req.ref.ifname);
  if (typeof req.netns !== 'string' || req.netns.length > MAX_NETNS) {
    throw new StoreError('INVALID', `the network namespace path (CNI_NETNS) is not a path`);
  }
  const v6 = req.v6 ?? req.subnet?.family === 6;
  return { ...req, v6, pool: poolIdFor(req.network, v6) };
}

/** checkDetachRequest checks a DetachRequest's ids. */
export function checkDetachRequest(req: DetachRequest): void {
  parsePoolId(req.pool);
  parseNodeId(req.node);
  parseContainerId(req.ref.container);
  parseIfName(req.ref.ifname);
}
