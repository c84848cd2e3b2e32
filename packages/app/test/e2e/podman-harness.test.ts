/**
 * testing/podman-host.ts proven with Debian's own IPAM: Podman 4.3.1 (CNI backend) in a network
 * namespace of the test's, its `eth1` a veth into a shared L2 (testing/shared-l2.ts), a macvlan
 * conflist whose IPAM is `host-local` with its state in the host's temp dir. Containers get
 * addresses in the subnet (`--ip` honoured), ping each other across the macvlan, and `podman
 * rm` (and a container's own exit) runs CNI DEL, which frees host-local's record. stop() leaves
 * nothing behind, and a later start sweeps up after a test process that was killed.
 *
 * Addresses: 10.68.0.0/24 exists only inside this test's namespaces.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { hostLocalIpam, macvlanConflist } from '@kontena-ipam/testing/cni-config';
import { type PodmanHost, startPodmanHost } from '@kontena-ipam/testing/podman-host';
import { type SharedL2, startSharedL2 } from '@kontena-ipam/testing/shared-l2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SUBNET = '10.68.0.0/24';
const MASTER = 'eth1';

let l2: SharedL2 | undefined;
let host: PodmanHost | undefined;

beforeAll(async () => {
  l2 = startSharedL2('pml2');
  host = await startPodmanHost({ label: 'pm' });
  l2.connect({ netns: host.netns, ifname: MASTER });
});
afterAll(async () => {
  try {
    await host?.stop();
  } finally {
    l2?.stop();
  }
});

function podman(): PodmanHost {
  if (!host) throw new Error('the Podman host did not start (see beforeAll)');
  return host;
}

/** hostLocalDir is where host-local keeps network `name`'s records (one file per address). */
function hostLocalDir(name: string): string {
  return join(podman().root, 'host-local', name);
}

/** recorded lists the addresses host-local holds for network `name`. */
function recorded(name: string): string[] {
  const dir = hostLocalDir(name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
    .sort();
}

/** writeLan writes macvlan conflist `name` on eth1 with host-local IPAM over SUBNET. */
function writeLan(name: string): void {
  podman().writeNetwork(
    macvlanConflist({
      name,
      master: MASTER,
      ipam: hostLocalIpam({ subnet: SUBNET, dataDir: join(podman().root, 'host-local') }),
    }),
  );
}

describe('testing/podman-host.ts with host-local IPAM on a macvlan conflist', () => {
  it('two containers get addresses in the subnet (--ip honoured), ping each other, and podman rm frees each address', async () => {
    const host = podman();
    writeLan('lan');
    const a = await host.runSleeper('lan');
    const b = await host.runSleeper('lan', ['--ip', '10.68.0.50']);
    const ipA = await host.containerIp(a, 'lan');
    const ipB = await host.containerIp(b, 'lan');
    expect(ipA).toMatch(/^10\.68\.0\.\d+$/);
    expect(ipB).toBe('10.68.0.50');
    expect(ipA).not.toBe(ipB);
    expect(recorded('lan')).toEqual([ipA, ipB].sort());
    // host-local's record names the container that holds the address.
    expect(readFileSync(join(hostLocalDir('lan'), ipB), 'utf8')).toContain(b);

    const ping = await host.podman(['exec', a, 'ping', '-c', '1', '-W', '2', ipB]);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain('1 packets received');

    // The macvlan child is in the container's namespace, on eth1 of the host's.
    const link = await host.podmanOk('exec', a, 'ip', '-o', '-4', 'addr', 'show', 'eth0');
    expect(link).toContain(`${ipA}/24`);

    await host.podmanOk('rm', '--force', '--time', '0', a);
    expect(recorded('lan')).toEqual([ipB]);
    await host.podmanOk('rm', '--force', '--time', '0', b);
    expect(recorded('lan')).toEqual([]);
  });

  it("a container that exits by itself gives its address back (conmon's cleanup runs CNI DEL)", async () => {
    const host = podman();
    writeLan('lan-exit');
    const id = await host.podmanOk(
      'run',
      '-d',
      '--network',
      'lan-exit',
      host.image,
      'sh',
      '-c',
      'sleep 1',
    );
    const until = Date.now() + 30_000;
    let status = '';
    while (Date.now() < until) {
      status = await host.podmanOk('inspect', '--format', '{{.State.Status}}', id);
      if (status === 'exited' && recorded('lan-exit').length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe('exited');
    expect(recorded('lan-exit')).toEqual([]);
    await host.podmanOk('rm', id);
  });

  it('keeps Podman in its namespace: the host has lo and eth1, the container namespaces are gone after rm', async () => {
    const host = podman();
    const links = await host.inNetns(['ip', '-o', 'link']);
    const names = links.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(':')[1]?.trim().split('@')[0]);
    expect(names).toEqual(['lo', MASTER]);
    expect(await host.podmanOk('ps', '-aq')).toBe('');
  });

  it('stop() removes containers, their namespaces, the host namespace and the temp dir', async () => {
    const other = await startPodmanHost({ label: 'pmstop' });
    const id = await other.runSleeper('none');
    const sandbox = await other.podmanOk('inspect', '--format', '{{.State.Pid}}', id);
    expect(Number(sandbox)).toBeGreaterThan(0);
    const { root, netns } = other;
    await other.stop();
    expect(existsSync(root)).toBe(false);
    expect(existsSync(`/var/run/netns/${netns}`)).toBe(false);
    expect(existsSync(`/proc/${sandbox}`)).toBe(false);
  });

  it('a later start sweeps up after a test process that was killed', async () => {
    const harness = createRequire(import.meta.url).resolve('@kontena-ipam/testing/podman-host');
    const script = `const { startPodmanHost } = await import(${JSON.stringify(harness)});
const h = await startPodmanHost({ label: 'pmorphan' });
const id = await h.runSleeper('none');
const pid = await h.podmanOk('inspect', '--format', '{{.State.Pid}}', id);
console.log(JSON.stringify({ root: h.root, netns: h.netns, pid: Number(pid) }));
setInterval(() => {}, 1000);`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const made = await new Promise<{ root: string; netns: string; pid: number }>(
      (resolve, reject) => {
        child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(JSON.parse(line)));
        child.once('exit', (code) => reject(new Error(`orphan maker exited ${code}`)));
      },
    );
    expect(existsSync(made.root)).toBe(true);
    expect(existsSync(`/proc/${made.pid}`)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const next = await startPodmanHost({ label: 'pmsweep' });
    await next.stop();
    expect(existsSync(made.root)).toBe(false);
    expect(existsSync(`/var/run/netns/${made.netns}`)).toBe(false);
    expect(existsSync(`/proc/${made.pid}`)).toBe(false);
  });
});
