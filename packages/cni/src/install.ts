/**
 * Installing the CNI client where runtimes look for plugins, as `kontena-ipam` in the CNI plugin
 * directory (default /opt/cni/bin). Two clients speak the same contract (wire.ts):
 *
 * - native: the static Go binary this package ships for the host's platform and architecture
 *   (dist/native/<platform>-<arch>/kontena-ipam-cni, built from native/). Copied, not linked,
 *   so the plugin directory does not depend on where node_modules lives. The default: it starts
 *   in ~15 ms where node takes ~100 ms, on every ADD, CHECK and DEL.
 * - node: a launcher script that execs this very node with the TypeScript client. Used where no
 *   binary was shipped for the host (another architecture, or a build without Go), or when asked.
 *   A script, not a symlink: runtimes exec plugins with an environment of their own (PATH may
 *   hold no node), and the launcher names both by absolute path.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** CNI_PLUGIN_NAME is the name runtimes find the plugin by (`"ipam": {"type": "kontena-ipam"}`). */
export const CNI_PLUGIN_NAME = 'kontena-ipam';
/** DEFAULT_CNI_BIN_DIR is where CNI runtimes look for plugins unless configured otherwise. */
export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';

/** ClientKind names the two clients: the shipped static binary, or node running the TS client. */
export type ClientKind = 'native' | 'node';

/** InstallOptions: where to install, and which client. */
export interface InstallOptions {
  dir?: string;
  /** 'node' forces the launcher; 'native' fails where no binary is shipped; default: native if shipped. */
  kind?: ClientKind;
  /** The node executable the launcher runs (default: the running one). */
  node?: string;
  /** The node client bin's path (dist/bin/kontena-ipam-cni.js), for the launcher. */
  client: string;
}

/** Installed says what was written. */
export interface Installed {
  path: string;
  kind: ClientKind;
  /** The binary copied (native) or the launcher's text (node). */
  source: string;
}

/**
 * nativeClientPath is the shipped binary for a platform and architecture (node's names,
 * default this host's), or undefined when this installation has none for it.
 */
export function nativeClientPath(
  platform: string = process.platform,
  arch: string = process.arch,
): string | undefined {
  const path = fileURLToPath(
    new URL(`./native/${platform}-${arch}/kontena-ipam-cni`, import.meta.url),
  );
  return existsSync(path) ? path : undefined;
}

/** shellQuote quotes a path for sh. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** launcherScript is the node launcher's text. */
export function launcherScript(node: string, client: string): string {
  return `#!/bin/sh\n# kontena-ipam CNI IPAM plugin (written by kontena-ipam install-cni)\nexec ${shellQuote(node)} ${shellQuote(client)} "$@"\n`;
}

/**
 * installCniPlugin writes DIR/kontena-ipam atomically (a temp file renamed over it: a runtime may
 * exec the plugin at any moment, and must see the old file or the new one, never half of one).
 */
export async function installCniPlugin(options: InstallOptions): Promise<Installed> {
  const dir = options.dir ?? DEFAULT_CNI_BIN_DIR;
  const native = options.kind === 'node' ? undefined : nativeClientPath();
  if (options.kind === 'native' && !native) {
    throw new Error(
      `this installation ships no native CNI client for ${process.platform}-${process.arch} (built without Go?)`,
    );
  }
  const script = launcherScript(options.node ?? process.execPath, options.client);
  await mkdir(dir, { recursive: true });
  const path = join(dir, CNI_PLUGIN_NAME);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    if (native) await copyFile(native, tmp);
    else await writeFile(tmp, script);
    await chmod(tmp, 0o755);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  return native ? { path, kind: 'native', source: native } : { path, kind: 'node', source: script };
}
