/**
 * The CNI plugin end to end with Debian's reference plugins as the caller (issue 21): two hosts
 * (network namespaces, each with its own kontena-ipam and NODE_ID) on one L2, Debian's macvlan
 * exec'ing our client from CNI_PATH exactly as a runtime's libcni would. Addresses 10.98.0.0/24
 * exist only inside this test's namespaces.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { storeKeys } from '../support/etcd-keys.js';
import { LAN_IF, macvlanOf, useCniStack } from './cni-stack.js';

const SUBNET = '10.98.0.0/24';
const stack = useCniStack();

/** ipOf is the address with prefix that `ifname` has in netns `path`'s namespace. */
function addressIn(netnsName: string, ifname: string): string | undefined {
  const out = spawnSync('ip', ['-n', netnsName, '-4', '-o', 'addr', 'show', 'dev', ifname], {
    encoding: 'utf8',
  });
  return /inet (\S+)/.exec(out.stdout)?.[1];
}

describe('Debian macvlan with kontena-ipam on two hosts of one L2', () => {
  it('ADD on both hosts gives distinct addresses of the pool, A pings B, DEL frees exactly its address', async () => {
    const [a, b] = stack.hosts;
    const ca = stack.container('ca');
    const cb = stack.container('cb');
    const run = (
      host: typeof a,
      c: typeof ca,
      command: string,
      config = macvlanOf(stack, host, 'cnilan', { subnet: SUBNET }),
    ) =>
      stack.macvlan(host, { command, containerId: c.name, netns: c.path, ifname: 'eth0', config });
    const addA = await run(a, ca, 'ADD');
    expect(addA.stderr).toBe('');
    expect(addA.code).toBe(0);
    const addB = await run(b, cb, 'ADD');
    expect(addB.code).toBe(0);
    const ipA = (addA.json?.ips as Array<{ address: string; gateway: string }> | undefined)?.[0];
    const ipB = (addB.json?.ips as Array<{ address: string; gateway: string }> | undefined)?.[0];
    expect(ipA?.address).toMatch(/^10\.98\.0\.\d+\/24$/);
    expect(ipB?.address).toMatch(/^10\.98\.0\.\d+\/24$/);
    expect(ipA?.address).not.toBe(ipB?.address);
    expect(ipA?.gateway).toBe('10.98.0.1');
    // macvlan put them on the containers' eth0.
    expect(addressIn(ca.name, 'eth0')).toBe(ipA?.address);
    expect(addressIn(cb.name, 'eth0')).toBe(ipB?.address);

    const bareA = ipA?.address.split('/')[0] as string;
    const bareB = ipB?.address.split('/')[0] as string;
    const records = await storeKeys(stack.client, 'addresses/cnilan/');
    expect(records[`addresses/cnilan/${bareA}`]).toMatchObject({
      node: 'host-a',
      kind: 'cni',
      attachment: { container: ca.name, ifname: 'eth0', netns: ca.path },
    });
    expect(records[`addresses/cnilan/${bareB}`]).toMatchObject({ node: 'host-b', kind: 'cni' });

    // Container A's macvlan, host A's veth, the bridge, host B's veth, container B's macvlan.
    const ping = spawnSync(
      'ip',
      ['netns', 'exec', ca.name, 'busybox', 'ping', '-c', '1', '-W', '2', bareB],
      {
        encoding: 'utf8',
      },
    );
    expect(ping.stdout).toContain('1 packets received');
    expect(ping.status).toBe(0);

    const delA = await run(a, ca, 'DEL');
    expect(delA.code).toBe(0);
    expect(delA.stdout).toBe('');
    const after = await storeKeys(stack.client, 'addresses/cnilan/');
    expect(Object.keys(after).sort()).toEqual(
      Object.keys(records)
        .filter((k) => k !== `addresses/cnilan/${bareA}`)
        .sort(),
    );
    expect(await storeKeys(stack.client, 'attachments/cnilan/host-a/')).toEqual({});
    expect(addressIn(ca.name, 'eth0')).toBeUndefined();

    // The last DEL anywhere removes the pool, as the last `docker network rm` does.
    expect((await run(b, cb, 'DEL')).code).toBe(0);
    expect(await storeKeys(stack.client, 'pools/cnilan')).toEqual({});
    expect(await storeKeys(stack.client, 'attachments/')).toEqual({});
  });

  it('CHECK with the cached result as prevResult passes; after the record is gone it fails', async () => {
    const [a] = stack.hosts;
    const c = stack.container('check');
    const config = macvlanOf(stack, a, 'cnicheck', { subnet: '10.98.1.0/24' });
    const cmd = { containerId: c.name, netns: c.path, ifname: 'eth0' };
    const added = await stack.macvlan(a, { ...cmd, command: 'ADD', config });
    expect(added.code).toBe(0);
    const checked = await stack.macvlan(a, {
      ...cmd,
      command: 'CHECK',
      config: { ...config, prevResult: added.json },
    });
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);

    // What CHECK verifies is etcd: with the attachment freed behind macvlan's back, it fails.
    const ipam = await stack.ipam({ ...cmd, command: 'DEL', config });
    expect(ipam.code).toBe(0);
    const stale = await stack.macvlan(a, {
      ...cmd,
      command: 'CHECK',
      config: { ...config, prevResult: added.json },
    });
    expect(stale.code).not.toBe(0);
    expect(stale.stdout).toContain('has no address in network cnicheck on node host-a');
    expect((await stack.macvlan(a, { ...cmd, command: 'DEL', config })).code).toBe(0);
  });

  it('the macvlan master is the L2 veth on each host', () => {
    for (const host of stack.hosts) {
      const out = spawnSync('ip', ['-n', host.netns.name, 'link', 'show', LAN_IF], {
        encoding: 'utf8',
      });
      expect(out.status).toBe(0);
    }
  });
});
