import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Dockerd, importBusybox, startDockerd } from '@kontena-ipam/testing/dockerd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

  it('a later start sweeps up after a test process that was killed', async () => {
    // The child imports the harness by file path: `-e` code resolves packages from the cwd.
    const harness = createRequire(import.meta.url).resolve('@kontena-ipam/testing/dockerd');
    const script = `const { startDockerd } = await import(${JSON.stringify(harness)});
const d = await startDockerd({ label: 'orphan' });
console.log(d.root);
setInterval(() => {}, 1000);`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const root = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(line.trim()));
      child.once('exit', (code) => reject(new Error(`orphan maker exited ${code}`)));
    });
    expect(existsSync(root)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const next = await startDockerd({ label: 'sweeper' });
    await next.stop();
    expect(existsSync(root)).toBe(false);
    const leftovers = readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(root);
        } catch {
          return false;
        }
      });
    expect(leftovers).toEqual([]);
  });
});
