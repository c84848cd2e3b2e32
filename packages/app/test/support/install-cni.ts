/**
 * installCni runs the real `kontena-ipam install-cni DIR`, as a CNI user does, and insists that
 * it installed the native client: the e2e suites then prove the executable that ships.
 */
import { runBin } from './plugin-process.js';

/** installCni installs the CNI client into `dir`; throws unless it is the native one. */
export async function installCni(dir: string): Promise<void> {
  const installed = await runBin(['install-cni', dir], {});
  if (installed.code !== 0) throw new Error(`install-cni failed: ${installed.stderr}`);
  if (!installed.stdout.includes('the native client')) {
    throw new Error(`install-cni did not install the native client: ${installed.stdout}`);
  }
}
