/**
 * The seed's `bin/kontena-ipam-cleanup` through the app's built bin: config from the
 * environment, the store from etcd, Docker's view from a real dockerd (DOCKER_HOST).
 */

import { formatAddress } from '@kontena-ipam/cidr';
import { parseNodeId, parsePoolId } from '@kontena-ipam/store';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openStore } from '../../src/open-store.js';
import { createNetwork, runSleeper, useE2eStack } from '../support/e2e-stack.js';
import { addressKeys, poolRecord, subnetKeys } from '../support/etcd-keys.js';
import { CLEANUP_BIN, runBin } from '../support/plugin-process.js';

const stack = useE2eStack(['host-a']);

describe('kontena-ipam-cleanup bin against a real dockerd', () => {
  it('frees a leaked address and keeps the live ones', async () => {
    await createNetwork(stack.host, 'kontena0');
    const id = await runSleeper(stack.host, 'kontena0');
    const live = await stack.host.docker(
      'container',
      'inspect',
      '--format',
      '{{.NetworkSettings.Networks.kontena0.IPAddress}}',
      id,
    );

    // A leak: an address taken for host-a that no container of host-a's Docker has (as when
    // Docker's release never reached the plugin).
    const env = { ETCD_ENDPOINT: stack.etcd.endpoint, NODE_ID: 'host-a' };
    const opened = openStore(loadConfig(env), { logger: pino({ level: 'silent' }) });
    const leak = await opened.store.requestAddress({
      pool: parsePoolId('kontena0'),
      node: parseNodeId('host-a'),
      kind: 'endpoint',
    });
    await opened.close();
    const leaked = formatAddress(leak.address);
    expect(Object.keys(await addressKeys(stack.client, 'kontena0')).sort()).toEqual(
      ['10.80.0.1', live, leaked].sort(),
    );

    const cleanupEnv = {
      ...env,
      DOCKER_HOST: stack.host.daemon.host,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
    };
    // Below the 30s floor without the loud override: refused (exit 2), nothing freed.
    const refused = await runBin(['--grace', '0s'], cleanupEnv, CLEANUP_BIN);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--grace 0s is below the floor of 30s');
    expect(Object.keys(await addressKeys(stack.client, 'kontena0')).sort()).toEqual(
      ['10.80.0.1', live, leaked].sort(),
    );

    const dry = await runBin(['--unsafe-grace', '0s', '--dry-run'], cleanupEnv, CLEANUP_BIN);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(leaked);
    expect(await addressKeys(stack.client, 'kontena0')).toHaveProperty([leaked]);

    const real = await runBin(['--unsafe-grace', '0s'], cleanupEnv, CLEANUP_BIN);
    expect(real.code).toBe(0);
    const after = await addressKeys(stack.client, 'kontena0');
    expect(after).not.toHaveProperty([leaked]);
    expect(after).toHaveProperty([live]);
    expect(after).toHaveProperty(['10.80.0.1']);

    await stack.host.docker('rm', '-f', id);
    await stack.host.docker('network', 'rm', 'kontena0');
  });

  it('drops the hold Docker 20.10 leaks when an aux address lies outside the subnet (Engine API)', async () => {
    // moby's ipamAllocateVersion returns this error without releasing the pool it just asked
    // for (the CLI refuses it first; v25+ validates before asking): see the plugin's
    // test/support/moby.ts.
    const reply = await stack.host.daemon.api('POST', '/v1.41/networks/create', {
      Name: 'aux-leak',
      Driver: 'bridge',
      IPAM: {
        Driver: 'kontena-ipam',
        Options: { network: 'aux-leak' },
        Config: [{ Subnet: '10.110.0.0/24', AuxiliaryAddresses: { db: '10.111.0.9' } }],
      },
    });
    expect(reply.status).toBe(403);
    expect(reply.json).toEqual({
      message: 'auxiliary address: (db:10.111.0.9) must belong to the master pool: 10.110.0.0/24',
    });
    expect(await stack.host.docker('network', 'ls', '--filter', 'name=aux-leak', '-q')).toBe('');
    expect((await poolRecord(stack.client, 'aux-leak'))?.holds).toEqual({ 'host-a': 1 });

    const cleanupEnv = {
      ETCD_ENDPOINT: stack.etcd.endpoint,
      NODE_ID: 'host-a',
      DOCKER_HOST: stack.host.daemon.host,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
    };
    const result = await runBin(['--unsafe-grace', '0s'], cleanupEnv, CLEANUP_BIN);
    expect(result.code).toBe(0);
    expect(await poolRecord(stack.client, 'aux-leak')).toBeUndefined();
    expect(await subnetKeys(stack.client)).toEqual({});
  });

  it('says which etcd it cannot reach, exit 1', async () => {
    const result = await runBin(
      ['--unsafe-grace', '0s'],
      {
        ETCD_ENDPOINT: 'http://127.0.0.1:1',
        KONTENA_IPAM_ETCD_TIMEOUT: '500',
        NODE_ID: 'host-a',
        DOCKER_HOST: stack.host.daemon.host,
        LOG_FORMAT: 'json',
      },
      CLEANUP_BIN,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('127.0.0.1:1');
  });
});
