/**
 * Installing the CNI client where runtimes look for plugins: a small launcher script named
 * `kontena-ipam` in the CNI plugin directory (default /opt/cni/bin) that execs this very node
 * with the client bin. A script, not a symlink: runtimes exec plugins with an environment of
 * their own (PATH may hold no node), and the launcher names both by absolute path.
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** CNI_PLUGIN_NAME is the name runtimes find the plugin by (`"ipam": {"type": "kontena-ipam"}`). */
export const CNI_PLUGIN_NAME = 'kontena-ipam';
/** DEFAULT_CNI_BIN_DIR is where CNI runtimes look for plugins unless configured otherwise. */
export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';

/** InstallOptions: where to install, and what the launcher runs. */
export interface InstallOptions {
  dir?: string;
  /** The node executable (default: the running one). */
  node?: string;
  /** The client bin's path (dist/bin/kontena-ipam-cni.js). */
  client: string;
}

/** Installed says what was written. */
export interface Installed {
  path: string;
  script: string;
}

/** shellQuote quotes a path for sh. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** launcherScript is the launcher's text. */
export function launcherScript(node: string, client: string): string {
  return `#!/bin/sh\n# kontena-ipam CNI IPAM plugin (written by kontena-ipam install-cni)\nexec ${shellQuote(node)} ${shellQuote(client)} "$@"\n`;
}

/** installCniPlugin writes the launcher atomically (a runtime may exec it at any moment). */
export async function installCniPlugin(options: InstallOptions): Promise<Installed> {
  const dir = options.dir ?? DEFAULT_CNI_BIN_DIR;
  await mkdir(dir, { recursive: true });
  const path = join(dir, CNI_PLUGIN_NAME);
  const script = launcherScript(options.node ?? process.execPath, options.client);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, script, { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, path);
  return { path, script };
}
