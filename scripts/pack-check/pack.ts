/**
 * Packs every publishable workspace package with `pnpm pack`, exactly what `changeset publish`
 * would upload (workspace: ranges replaced by versions), and unpacks each tarball so the
 * checks read the files a stranger gets rather than the working tree.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOk } from './run.js';

/** The parts of a package.json the checks read. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  homepage?: string;
  bugs?: { url?: string } | string;
  repository?: { type?: string; url?: string; directory?: string } | string;
  engines?: Record<string, string>;
  bin?: Record<string, string> | string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** A workspace package as packed: its folder, its tarball, and the tarball's unpacked tree. */
export interface PackedPackage {
  /** Folder relative to the repository root, e.g. `packages/cidr`. */
  folder: string;
  /** The workspace package.json (devDependencies included, workspace: ranges as written). */
  source: Manifest;
  /** The package.json inside the tarball. */
  manifest: Manifest;
  tarball: string;
  /** Where the tarball was unpacked: the files are under `<unpacked>/package/`. */
  unpacked: string;
  /** Paths inside the tarball, relative to its `package/` folder. */
  files: string[];
}

/** readManifest reads and parses a package.json. */
export function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** publishableFolders lists `packages/*` folders whose package.json is not private. */
export function publishableFolders(root: string): string[] {
  return readdirSync(join(root, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `packages/${entry.name}`)
    .filter((folder) => {
      try {
        return readManifest(join(root, folder, 'package.json')).private !== true;
      } catch {
        return false; // a folder without a package.json is not a package
      }
    })
    .sort();
}

/**
 * packAll packs the folders in one recursive `pnpm pack` into `<work>/tarballs` (one pnpm start
 * instead of one per package) and unpacks each tarball under `<work>/unpacked`.
 */
export function packAll(root: string, folders: readonly string[], work: string): PackedPackage[] {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs, { recursive: true });
  const filters = folders.flatMap((folder) => ['--filter', `./${folder}`]);
  const out = runOk('pnpm', ['-r', ...filters, 'pack', '--pack-destination', tarballs, '--json'], {
    cwd: root,
  });
  const packed = JSON.parse(out.stdout) as { name: string; filename: string }[];
  return folders.map((folder) => {
    const source = readManifest(join(root, folder, 'package.json'));
    const filename = packed.find((p) => p.name === source.name)?.filename;
    if (!filename) throw new Error(`pnpm pack made no tarball for ${folder}`);
    const unpacked = join(work, 'unpacked', folder.replaceAll('/', '-'));
    mkdirSync(unpacked, { recursive: true });
    runOk('tar', ['-xzf', filename, '-C', unpacked], { cwd: root });
    const listing = runOk('tar', ['-tzf', filename], { cwd: root }).stdout;
    return {
      folder,
      source,
      manifest: readManifest(join(unpacked, 'package', 'package.json')),
      tarball: filename,
      unpacked,
      files: listing
        .split('\n')
        .filter((line) => line !== '' && !line.endsWith('/'))
        .map((line) => line.replace(/^package\//, '')),
    };
  });
}
