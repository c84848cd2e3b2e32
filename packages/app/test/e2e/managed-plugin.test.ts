/**
 * docker/plugin/config.json is what `docker plugin create` reads (build-rootfs.sh). The image
 * cannot be built here (no registry), so this checks the part that can be: a real dockerd
 * accepts the config as an IPAM driver plugin with the socket and settings the README names.
 */
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dockerd, startDockerd } from '../../../../testing/dockerd.js';
import { ENV_VARS } from '../../src/config.js';

const configPath = fileURLToPath(new URL('../../../../docker/plugin/config.json', import.meta.url));

interface PluginInspect {
  Name: string;
  Enabled: boolean;
  Settings: { Env: string[] };
  Config: {
    Entrypoint: string[];
    Interface: { Types: string[]; Socket: string };
    Network: { Type: string };
  };
}

describe('docker/plugin/config.json (managed plugin)', () => {
  let daemon: Dockerd;

  beforeAll(async () => {
    daemon = await startDockerd({ label: 'managed' });
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('is accepted by `docker plugin create` as an IPAM driver on kontena-ipam.sock', async () => {
    const dir = join(daemon.root, 'plugin-build');
    mkdirSync(join(dir, 'rootfs', 'app'), { recursive: true });
    cpSync(configPath, join(dir, 'config.json'));
    await daemon.dockerOk(['plugin', 'create', 'kontena-ipam-check', dir]);
    const [plugin] = JSON.parse(
      await daemon.dockerOk(['plugin', 'inspect', 'kontena-ipam-check']),
    ) as PluginInspect[];
    expect(plugin?.Name).toBe('kontena-ipam-check:latest');
    expect(plugin?.Enabled).toBe(false);
    expect(plugin?.Config.Interface).toEqual({
      Types: ['docker.ipamdriver/1.0'],
      Socket: 'kontena-ipam.sock',
    });
    expect(plugin?.Config.Network.Type).toBe('host');
    expect(plugin?.Config.Entrypoint).toEqual(['node', '/app/dist/bin/kontena-ipam.js', 'serve']);
    expect(plugin?.Settings.Env).toContain('ETCD_ENDPOINT=http://127.0.0.1:2379');
    expect(plugin?.Settings.Env).toContain('KONTENA_IPAM_LOCAL_ETCD=off');
    await daemon.dockerOk(['plugin', 'set', 'kontena-ipam-check', 'NODE_ID=node-1']);
    await daemon.dockerOk(['plugin', 'rm', 'kontena-ipam-check']);
  });

  it('sets only variables the app reads', () => {
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as { env: Array<{ name: string }> };
    const names = config.env.map((e) => e.name).filter((name) => name !== 'NODE_ENV');
    expect(names.filter((name) => !(ENV_VARS as readonly string[]).includes(name))).toEqual([]);
  });
});
