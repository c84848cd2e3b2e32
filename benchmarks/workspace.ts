/**
 * The project's packages and their third-party modules, as the benchmarks reach them.
 *
 * The root package depends on none of the workspace packages, so `@kontena-ipam/store` does not
 * resolve from here. Like the tests' harnesses, the benchmarks import each package's built
 * `dist/` by relative path (`pnpm bench` builds first), and take etcd3 and pino through the
 * package that depends on them: the bare etcd transactions then run on the very etcd3 module
 * the store runs on, not on a second copy that might differ in version.
 */
import { createRequire } from 'node:module';

// The app's table renderer is not part of its package exports (the commands' internals stay
// inside), so it is reached by its file, like the tests reach it.
export type { Cell, Colors, Column } from '../packages/app/dist/render/table.js';
export { colors, renderTable, useColor } from '../packages/app/dist/render/table.js';
export type { IpAddress, Subnet } from '../packages/cidr/dist/index.js';
export {
  addressAt,
  formatAddress,
  formatSubnet,
  hostRange,
  parseAddress,
  parseSubnet,
  subnetsOverlap,
} from '../packages/cidr/dist/index.js';
export type { IpamBackend } from '../packages/plugin/dist/index.js';
export { PluginServer } from '../packages/plugin/dist/index.js';
export type {
  Allocation,
  JoinedPool,
  NodeId,
  Pool,
  PoolId,
  StoreObserver,
  StoreOptions,
} from '../packages/store/dist/index.js';
export {
  checkConsistency,
  IpamStore,
  isStoreError,
  KeyLayout,
  parseNetworkName,
  parseNodeId,
  parsePoolId,
  poolIdFor,
  resilientClientOptions,
} from '../packages/store/dist/index.js';

const fromStore = createRequire(new URL('../packages/store/package.json', import.meta.url));
const fromPlugin = createRequire(new URL('../packages/plugin/package.json', import.meta.url));

/** etcd3 is the store's own etcd3 module (same file, same instance). */
export const etcd3 = fromStore('etcd3') as typeof import('etcd3');
/** pino is the plugin's own pino module. */
export const pino = fromPlugin('pino') as typeof import('pino');
