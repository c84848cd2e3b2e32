/**
 * The e2e suites' image, made from Debian's busybox-static with `docker import` or `podman
 * import` because no image registry is reachable.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Dockerd } from './dockerd.js';

/** isStaticElf tells a static binary (no PT_INTERP program header) from a dynamic one. */
function isStaticElf(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false; // ELF64 only
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  }
  return true;
}

/** BUSYBOX_IMAGE is the tag importBusybox gives its image. */
export const BUSYBOX_IMAGE = 'kontena-ipam-test/busybox:latest';

/**
 * busyboxTarball writes a one-binary rootfs tarball of Debian's busybox-static into `dir` and
 * returns its path: `sh`, `sleep`, `ip`, `ping`, … are applet links. Both `docker import` and
 * `podman import` take it (no registry is reachable).
 */
export function busyboxTarball(dir: string): string {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox || !isStaticElf(busybox)) {
    throw new Error(
      'The end-to-end tests need a static busybox for their image. Install it with: apt-get install -y busybox-static',
    );
  }
  const rootfs = join(dir, 'busybox-rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const sub of ['etc', 'tmp', 'proc', 'sys', 'dev'])
    mkdirSync(join(rootfs, sub), { recursive: true });
  copyFileSync(busybox, join(rootfs, 'bin', 'busybox'));
  const applets = spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n');
  for (const applet of applets) {
    if (!applet || applet === 'busybox' || applet.includes('/')) continue;
    symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  const tarball = join(dir, 'busybox.tar');
  const tar = spawnSync('tar', ['-C', rootfs, '-cf', tarball, '.'], { encoding: 'utf8' });
  rmSync(rootfs, { recursive: true, force: true });
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
  return tarball;
}

/**
 * importBusybox makes a one-binary image from Debian's busybox-static with `docker import`
 * (no registry is reachable) and returns its tag.
 */
export async function importBusybox(daemon: Dockerd, tag = BUSYBOX_IMAGE): Promise<string> {
  const tarball = busyboxTarball(daemon.root);
  try {
    await daemon.dockerOk(['import', '--change', 'CMD ["sh"]', tarball, tag]);
  } finally {
    rmSync(tarball, { force: true });
  }
  return tag;
}
