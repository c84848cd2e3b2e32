/**
 * `kontena-ipam install-cni [--node-client] [DIR]`, the real bin: which client lands in DIR,
 * that it is whole and executable, and that either one answers a runtime's VERSION.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SHIPPED_CNI_CLIENT } from '../support/install-cni.js';
import { runBin } from '../support/plugin-process.js';

const dir = mkdtempSync(join(tmpdir(), 'kipam-install-cni-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** version execs the installed plugin as a runtime does for VERSION: no PATH, nothing on stdin. */
function version(plugin: string): unknown {
  const run = spawnSync(plugin, [], {
    env: { CNI_COMMAND: 'VERSION' },
    input: '',
    encoding: 'utf8',
  });
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout);
}

const VERSIONS = {
  cniVersion: '1.1.0',
  supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
};

describe('kontena-ipam install-cni', () => {
  it('installs a copy of the native client shipped for this host, mode 0755', async () => {
    const target = join(dir, 'native');
    const out = await runBin(['install-cni', target], {});
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      `installed ${target}/kontena-ipam: the native client for ${process.platform}-${process.arch}\n`,
    );
    const plugin = join(target, 'kontena-ipam');
    expect(readFileSync(plugin).equals(readFileSync(SHIPPED_CNI_CLIENT))).toBe(true);
    expect(statSync(plugin).mode & 0o777).toBe(0o755);
    expect(version(plugin)).toEqual(VERSIONS);
  });

  it('--node-client writes the launcher instead, which answers the same; a reinstall replaces it whole', async () => {
    const target = join(dir, 'both');
    const first = await runBin(['install-cni', '--node-client', target], {});
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('a launcher of the node client (asked for)');
    const plugin = join(target, 'kontena-ipam');
    expect(readFileSync(plugin, 'utf8')).toMatch(
      /^#!\/bin\/sh\n.*\nexec '.*node' '.*kontena-ipam-cni\.js' "\$@"\n$/,
    );
    expect(version(plugin)).toEqual(VERSIONS);
    // Over the launcher: the native client, and no temp file left beside it.
    expect((await runBin(['install-cni', target], {})).code).toBe(0);
    expect(readFileSync(plugin).equals(readFileSync(SHIPPED_CNI_CLIENT))).toBe(true);
    expect(readdirSync(target)).toEqual(['kontena-ipam']);
  });

  it('two directories exit 2; a directory it cannot create exits 1 naming the cause; nothing is written', async () => {
    const two = await runBin(['install-cni', join(dir, 'a'), join(dir, 'b')], {});
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('one directory at most');
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const under = await runBin(['install-cni', join(blocker, 'bin')], {});
    expect(under.code).toBe(1);
    expect(under.stderr).toMatch(/^kontena-ipam install-cni: .*(ENOTDIR|EEXIST)/);
    expect(readdirSync(dir).sort()).toEqual(['a-file', 'both', 'native']);
  });
});
