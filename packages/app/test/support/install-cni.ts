/**
 * installCni runs the real `kontena-ipam install-cni DIR`, as a CNI user does, and insists that
 * it installed the native client: the e2e suites then prove the executable that ships.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { runBin } from './plugin-process.js';

/** SHIPPED_CNI_CLIENT is the native client @kontena-ipam/cni ships for this host, as the app resolves it. */
export const SHIPPED_CNI_CLIENT = join(
  dirname(createRequire(import.meta.url).resolve('@kontena-ipam/cni')),
  'native',
  `${process.platform}-${process.arch}`,
  'kontena-ipam-cni',
);

/** installCni installs the CNI client into `dir`; throws unless it is the native one. */
export async function installCni(dir: string): Promise<void> {
  const installed = await runBin(['install-cni', dir], {});
  if (installed.code !== 0) throw new Error(`install-cni failed: ${installed.stderr}`);
  if (!installed.stdout.includes('the native client')) {
    throw new Error(`install-cni did not install the native client: ${installed.stdout}`);
  }
}
