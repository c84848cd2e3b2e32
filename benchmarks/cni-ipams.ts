/**
 * The IPAM plugins the CNI benchmark can put under Debian's macvlan plugin: `host-local` (the
 * floor a CNI user compares with, and the stand-in subject that proves the benchmark) and
 * kontena-ipam's CNI client. Each is set up for one network name and subnet and says what it
 * still holds after the run (every ADD was followed by a DEL, so that must be nothing).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_CNI_DIR } from '@kontena-ipam/testing/cni';
import { hostLocalIpam } from '@kontena-ipam/testing/cni-config';

/** IpamUnderTest is one IPAM plugin, ready to be named in a network config's `ipam`. */
export interface IpamUnderTest {
  /** name says which IPAM this is, for the table. */
  readonly name: string;
  /** cniPath is CNI_PATH: the folder holding the executable named by ipam.type, then /usr/lib/cni. */
  readonly cniPath: readonly string[];
  /** ipam is the network config's `ipam` section. */
  readonly ipam: Record<string, unknown>;
  /** executable is the IPAM plugin itself, timed alone for its start (CNI_COMMAND=VERSION). */
  readonly executable: string;
  /** held counts the addresses the IPAM still holds for the network. */
  held(): Promise<number>;
  stop(): Promise<void>;
}

/** IpamSetupOptions say where an IPAM may keep files and which network it serves. */
export interface IpamSetupOptions {
  /** dir is a temp folder of the benchmark's, removed after the run. */
  dir: string;
  /** network is the CNI network's name (the config's `name`). */
  network: string;
  subnet: string;
}

/** IpamSetup prepares one IPAM for the benchmark. */
export type IpamSetup = (options: IpamSetupOptions) => Promise<IpamUnderTest>;

/** hostLocal is Debian's host-local, its state in the benchmark's temp folder. */
export const hostLocal: IpamSetup = async ({ dir, network, subnet }) => {
  const dataDir = join(dir, `host-local-${network}`);
  return {
    name: 'host-local',
    cniPath: [DEBIAN_CNI_DIR],
    ipam: hostLocalIpam({ subnet, dataDir }),
    executable: join(DEBIAN_CNI_DIR, 'host-local'),
    async held() {
      const records = join(dataDir, network);
      if (!existsSync(records)) return 0;
      return readdirSync(records).filter((f) => /^[\d.]+$|:/.test(f)).length;
    },
    async stop() {
      // host-local has no process; its files go with the temp folder.
    },
  };
};
