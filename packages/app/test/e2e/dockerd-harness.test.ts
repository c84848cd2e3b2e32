import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dockerd, importBusybox, startDockerd } from '../../../../testing/dockerd.js';

describe('testing/dockerd.ts harness', () => {
  let daemon: Dockerd;
  let image: string;

  beforeAll(async () => {
    daemon = await startDockerd({ label: 'harness' });
    image = await importBusybox(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('starts a daemon that answers `docker info` on its own socket', async () => {
    const info = await daemon.dockerOk(['info', '--format', '{{.Driver}} {{.DockerRootDir}}']);
    expect(info).toBe(`vfs ${daemon.root}/data`);
  });

  it('runs `echo` in the imported busybox image', async () => {
    const out = await daemon.dockerOk(['run', '--rm', '--network', 'none', image, 'echo', 'hello']);
    expect(out).toBe('hello');
  });

  it('keeps the daemon in its own network namespace', async () => {
    expect(daemon.netns).toMatch(/^kipam-harness-/);
    const links = await daemon.inNetns(['ip', '-o', 'link']);
    expect(links.code).toBe(0);
    expect(links.stdout.trim().split('\n')).toHaveLength(1); // only lo
  });

  it('restarts on the same roots', async () => {
    await daemon.restart();
    const images = await daemon.dockerOk(['images', '--format', '{{.Repository}}']);
    expect(images).toContain('kontena-ipam-test/busybox');
  });

  it('stop() removes the namespace, processes and temp dir', async () => {
    const other = await startDockerd({ label: 'stop' });
    await other.dockerOk(['network', 'create', '--driver', 'bridge', 'plain']);
    const { root, netns } = other;
    await other.stop();
    expect(existsSync(root)).toBe(false);
    const list = await daemon.inNetns(['ip', 'netns', 'list']);
    expect(list.stdout).not.toContain(String(netns));
  });
});
