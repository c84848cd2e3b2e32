/**
 * The client (what a runtime execs) against a real unix socket: a plain node:http server in
 * this test stands in for the daemon's routes, so the client's own handling is what is tested
 * (the daemon's answers are the app's CNI tests'). Also: what the client imports.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCniClient } from '../src/client/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kipam-cni-client-'));
const socket = join(dir, 'daemon.sock');
let server: Server;
const seen: Array<{ path: string; body: Record<string, unknown> }> = [];
let reply: { status: number; body: string } = { status: 200, body: '{}' };

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const config = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '0.4.0',
    ipam: { type: 'kontena-ipam', network: 'lan', socket, ...extra },
  });

describe('runCniClient', () => {
  it('posts the CNI_ variables (only those) and the config to the verb’s route; prints an ADD result', async () => {
    seen.length = 0;
    reply = { status: 200, body: '{"cniVersion":"0.4.0","ips":[]}' };
    const out = await runCniClient({
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', SECRET: 'x' },
      stdin: config(),
    });
    expect(out).toEqual({ stdout: '{"cniVersion":"0.4.0","ips":[]}\n', exitCode: 0 });
    expect(seen[0]?.path).toBe('/Cni.Add');
    expect(seen[0]?.body.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_IFNAME: 'eth0',
    });
  });

  it('DEL, CHECK, GC and STATUS print nothing on success', async () => {
    reply = { status: 200, body: '{}' };
    for (const verb of ['DEL', 'CHECK', 'GC', 'STATUS']) {
      expect(await runCniClient({ env: { CNI_COMMAND: verb }, stdin: config() })).toEqual({
        stdout: '',
        exitCode: 0,
      });
    }
  });

  it('a CNI error from the daemon is printed with the caller’s cniVersion, exit 1', async () => {
    reply = { status: 400, body: '{"code":7,"msg":"ipam.subnet: bad"}' };
    const out = await runCniClient({ env: { CNI_COMMAND: 'ADD' }, stdin: config() });
    expect(out.exitCode).toBe(1);
    expect(JSON.parse(out.stdout)).toEqual({
      cniVersion: '0.4.0',
      code: 7,
      msg: 'ipam.subnet: bad',
    });
  });

  it('a daemon answering 503 without a CNI body is 11 (STATUS: 50); anything else unexpected is 999', async () => {
    reply = { status: 503, body: '{"Err":"etcd unavailable"}' };
    expect(
      JSON.parse((await runCniClient({ env: { CNI_COMMAND: 'ADD' }, stdin: config() })).stdout),
    ).toMatchObject({ code: 11, msg: 'etcd unavailable' });
    expect(
      JSON.parse((await runCniClient({ env: { CNI_COMMAND: 'STATUS' }, stdin: config() })).stdout),
    ).toMatchObject({ code: 50 });
    reply = { status: 404, body: '{"Err":"unknown route"}' };
    expect(
      JSON.parse((await runCniClient({ env: { CNI_COMMAND: 'ADD' }, stdin: config() })).stdout),
    ).toMatchObject({ code: 999, msg: 'kontena-ipam answered HTTP 404: unknown route' });
  });

  it('no daemon on the socket: 11 naming the socket; a daemon that does not answer: 11 after the timeout', async () => {
    const none = join(dir, 'none.sock');
    const out = await runCniClient({
      env: { CNI_COMMAND: 'DEL' },
      stdin: config({ socket: none }),
    });
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 11, msg: expect.stringContaining(none) });
    const silent = createServer(() => undefined);
    const path = join(dir, 'silent.sock');
    await new Promise<void>((resolve) => silent.listen(path, resolve));
    try {
      const hung = await runCniClient({
        env: { CNI_COMMAND: 'ADD' },
        stdin: config({ socket: path }),
        timeoutMs: 200,
      });
      expect(JSON.parse(hung.stdout)).toMatchObject({
        code: 11,
        details: 'no answer within 200 ms',
      });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('VERSION, an unknown verb, and a config that is not JSON are answered without the daemon', async () => {
    seen.length = 0;
    expect(
      JSON.parse((await runCniClient({ env: { CNI_COMMAND: 'VERSION' }, stdin: '' })).stdout)
        .cniVersion,
    ).toBe('1.1.0');
    expect(
      JSON.parse((await runCniClient({ env: { CNI_COMMAND: 'NOPE' }, stdin: config() })).stdout),
    ).toMatchObject({ code: 4 });
    expect(
      JSON.parse((await runCniClient({ env: { CNI_COMMAND: 'ADD' }, stdin: '{' })).stdout),
    ).toMatchObject({ code: 6 });
    expect(seen).toEqual([]);
  });
});

describe('the bin by hand', () => {
  const bin = fileURLToPath(new URL('../dist/bin/kontena-ipam-cni.js', import.meta.url));
  it('--help prints what it is and exits 0; any other argument exits 2 (a runtime passes none)', () => {
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', input: '' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('A CNI IPAM plugin');
    expect(help.stdout).toContain('kontena-ipam install-cni');
    const other = spawnSync(process.execPath, [bin, 'ADD'], { encoding: 'utf8', input: '' });
    expect(other.status).toBe(2);
    expect(other.stderr).toContain('run by a CNI runtime, not by hand');
  });
});

describe('what the client loads', () => {
  it('the built bin’s import graph holds only node built-ins and the client’s own modules', () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const seen = new Set<string>();
    const bare: string[] = [];
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
      )) {
        const spec = (m[1] ?? m[2]) as string;
        if (spec.startsWith('.')) walk(resolve(dirname(file), spec));
        else bare.push(spec);
      }
    };
    walk(join(dist, 'bin/kontena-ipam-cni.js'));
    expect(bare.every((spec) => spec.startsWith('node:'))).toBe(true);
    expect([...seen].map((f) => f.slice(dist.length)).sort()).toEqual([
      'bin/kontena-ipam-cni.js',
      'client/main.js',
      'client/post.js',
      'client/run.js',
      'wire.js',
    ]);
  });
});
