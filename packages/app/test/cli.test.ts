import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../src/config.js';
import { CLEANUP_BIN, runBin } from './support/plugin-process.js';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

describe('kontena-ipam bin', () => {
  it('--help lists the commands and every environment variable, exit 0', async () => {
    const result = await runBin(['--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage:');
    expect(result.stdout).toMatch(/^\s+serve\s+serve the IPAM plugin/m);
    expect(result.stdout).toMatch(/^\s+healthcheck\s+/m);
    for (const name of ENV_VARS) expect(result.stdout).toContain(name);
    expect(result.stderr).toBe('');
  });

  it('--version prints the package version, exit 0', async () => {
    const result = await runBin(['--version'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });

  it('a command --help exits 0 without reading the config', async () => {
    const result = await runBin(['serve', '--help'], { LOG_LEVEL: 'loud' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: kontena-ipam [serve]');
  });

  it('an unknown command exits 2 and says so', async () => {
    const result = await runBin(['bogus'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('kontena-ipam: unknown command "bogus"; see kontena-ipam --help\n');
  });

  it('an unknown option exits 2 and says so', async () => {
    const result = await runBin(['--bogus'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--bogus'");
  });

  it('a bad environment exits 2 with one line per bad value and no stack trace', async () => {
    const result = await runBin([], {
      LOG_LEVEL: 'loud',
      KONTENA_IPAM_SUPERNET: '10.80.0.0/33',
      KONTENA_IPAM_SUBNET_LENGTH: 'x',
    });
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('kontena-ipam: invalid configuration:');
    expect(lines.slice(1).map((l) => l.trim().split('=')[0])).toEqual([
      'LOG_LEVEL',
      'KONTENA_IPAM_SUPERNET',
      'KONTENA_IPAM_SUBNET_LENGTH',
    ]);
    expect(result.stderr).not.toContain('    at ');
  });
});

describe('kontena-ipam-cleanup bin', () => {
  it('a bad environment exits 2 with the same messages', async () => {
    const result = await runBin([], { KONTENA_IPAM_ETCD_TIMEOUT: 'soon' }, CLEANUP_BIN);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('kontena-ipam-cleanup: invalid configuration:');
    expect(result.stderr).toContain('KONTENA_IPAM_ETCD_TIMEOUT="soon": must be a whole number');
  });

  it('--grace below the 30s floor exits 2 naming the value and the floor, before Docker or etcd', async () => {
    // Nothing listens on either: a run that gets past the flags exits 1 instead.
    const env = {
      NODE_ID: 'host-a',
      ETCD_ENDPOINT: 'http://127.0.0.1:1',
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    };
    for (const grace of ['0s', '0', '29s']) {
      const result = await runBin(['--grace', grace], env, CLEANUP_BIN);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `kontena-ipam-cleanup: --grace ${grace} is below the floor of 30s`,
      );
      expect(result.stderr).toContain('--unsafe-grace');
      expect(result.stdout).toBe('');
    }
    const past = await runBin(['--unsafe-grace', '0s'], env, CLEANUP_BIN);
    expect(past.code).toBe(1);
    expect(past.stderr).toContain('etcd unavailable at http://127.0.0.1:1');
    expect(past.stderr).toContain('--unsafe-grace 0s is below the 30s floor');
  });
});
