/**
 * createDockerView against a real dockerd: what it reports must be what `docker network
 * inspect` says. Uses Docker's default IPAM so this file needs no plugin.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dockerd, importBusybox, startDockerd } from '@kontena-ipam/testing/dockerd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerView, resolveDockerSocket } from '../src/docker-view.js';
import { CleanupError } from '../src/errors.js';

describe('createDockerView (real dockerd)', () => {
  let daemon: Dockerd;
  let image: string;

  beforeAll(async () => {
    daemon = await startDockerd({ label: 'view' });
    image = await importBusybox(daemon);
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
  }, 120_000);

  it('lists networks with IPAM driver, options, config, gateway, aux and endpoint addresses', async () => {
    await daemon.dockerOk([
      'network',
      'create',
      '--driver',
      'bridge',
      '--ipam-opt',
      'network=viewnet',
      '--subnet',
      '10.99.0.0/16',
      '--ip-range',
      '10.99.128.0/17',
      '--gateway',
      '10.99.0.254',
      '--aux-address',
      'printer=10.99.0.7',
      'viewnet',
    ]);
    await daemon.dockerOk([
      'run',
      '-d',
      '--name',
      'viewc',
      '--network',
      'viewnet',
      '--ip',
      '10.99.128.9',
      image,
      'sleep',
      '600',
    ]);
    const view = createDockerView({ env: { DOCKER_HOST: daemon.host } });
    expect(view.endpoint).toBe(daemon.host);
    const { networks } = await view.snapshot();
    const net = networks.find((n) => n.name === 'viewnet');
    expect(net).toBeDefined();
    expect(net?.driver).toBe('bridge');
    expect(net?.ipamDriver).toBe('default');
    expect(net?.ipamOptions).toEqual({ network: 'viewnet' });
    expect(net?.ipamConfig).toEqual([
      {
        subnet: '10.99.0.0/16',
        ipRange: '10.99.128.0/17',
        gateway: '10.99.0.254',
        auxAddresses: ['10.99.0.7'],
      },
    ]);
    expect(net?.endpoints.map((e) => [e.name, e.ipv4])).toEqual([['viewc', '10.99.128.9']]);
    expect(net?.enableIPv6).toBe(false);
    // `--ipv6` shows: cleanup maps such a network to its IPv6 pool `NAME:v6` too.
    await daemon.dockerOk([
      'network',
      'create',
      '--ipv6',
      '--subnet',
      '10.98.0.0/24',
      '--subnet',
      'fd00:98::/64',
      'view6',
    ]);
    const six = (await view.snapshot()).networks.find((n) => n.name === 'view6');
    expect(six?.enableIPv6).toBe(true);
    expect(six?.ipamConfig.map((c) => c.subnet)).toEqual(['10.98.0.0/24', 'fd00:98::/64']);
    // The built-in networks are listed too (cleanup uses every address Docker knows as "live").
    expect(networks.map((n) => n.name)).toEqual(expect.arrayContaining(['host', 'none']));
  });

  it('says which socket it could not reach, for a socket path and for DOCKER_HOST', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kipam-nosock-'));
    try {
      const missing = join(dir, 'docker.sock');
      for (const view of [
        createDockerView({ socketPath: missing }),
        createDockerView({ env: { DOCKER_HOST: `unix://${missing}` } }),
      ]) {
        const error = await view.snapshot().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(CleanupError);
        expect((error as CleanupError).code).toBe('DOCKER_UNAVAILABLE');
        expect((error as CleanupError).kind).toBe('unavailable');
        expect((error as Error).message).toContain(`Docker unreachable at unix://${missing}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads only unix sockets: a tcp DOCKER_HOST is refused before any traffic', () => {
    expect(() => createDockerView({ env: { DOCKER_HOST: 'tcp://127.0.0.1:2375' } })).toThrow(
      /not a unix socket/,
    );
    expect(resolveDockerSocket({})).toBe('/var/run/docker.sock');
    expect(resolveDockerSocket({ env: { DOCKER_HOST: 'unix:///x/d.sock' } })).toBe('/x/d.sock');
    expect(resolveDockerSocket({ socketPath: '/a.sock', env: { DOCKER_HOST: 'tcp://h:1' } })).toBe(
      '/a.sock',
    );
  });
});
