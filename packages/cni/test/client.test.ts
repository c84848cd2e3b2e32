/**
 * The client (what a runtime execs) against a real unix socket: a plain node:http server in
 * this test stands in for the daemon's routes, so the client's own handling is what is tested
 * (the daemon's answers are the app's CNI tests'). Also: what the client imports.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_TIMEOUT_MS, runCniClient } from '../src/client/index.js';

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

/**
 * Both clients a runtime may exec (install-cni installs the native one, and the node launcher
 * where none is shipped) as processes, case by case: each must print what the contract says,
 * and the two must print the same.
 */
const NODE_BIN = fileURLToPath(new URL('../dist/bin/kontena-ipam-cni.js', import.meta.url));
const NATIVE_BIN = fileURLToPath(
  new URL(`../dist/native/${process.platform}-${process.arch}/kontena-ipam-cni`, import.meta.url),
);
const CLIENTS = [
  { name: 'node', argv: [process.execPath, NODE_BIN] },
  { name: 'native', argv: [NATIVE_BIN] },
] as const;

interface Exec {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** exec runs a client as a runtime does: its own environment, the config on stdin. */
function exec(
  argv: readonly string[],
  env: Record<string, string>,
  stdin: string,
  args: string[] = [],
): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, [...argv.slice(1), ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    child.stdin.end(stdin);
  });
}

/** A case: the daemon's reply, the call, and what a client must print (parsed) and exit with. */
interface Case {
  name: string;
  reply?: { status: number; body: string };
  env: Record<string, string>;
  stdin?: string;
  /** Exact output (undefined: prints nothing), or a partial match of the printed object. */
  prints?: Record<string, unknown>;
  partial?: boolean;
  exit: number;
  /** The routes the daemon saw, in order. */
  posted: string[];
}

const CASES: Case[] = [
  {
    name: 'ADD prints the result as the daemon gave it',
    reply: { status: 200, body: '{"cniVersion":"0.4.0","ips":[{"address":"10.1.0.2/24"}]}' },
    env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' },
    prints: { cniVersion: '0.4.0', ips: [{ address: '10.1.0.2/24' }] },
    exit: 0,
    posted: ['/Cni.Add'],
  },
  ...['DEL', 'CHECK', 'GC', 'STATUS'].map((verb) => ({
    name: `${verb} prints nothing on success`,
    reply: { status: 200, body: '{}' },
    env: { CNI_COMMAND: verb },
    exit: 0,
    posted: [`/Cni.${verb[0]}${verb.slice(1).toLowerCase()}`],
  })),
  {
    name: 'a CNI error from the daemon, with the caller’s cniVersion',
    reply: { status: 400, body: '{"code":7,"msg":"ipam.subnet: bad","details":"10.0.0.0/33"}' },
    env: { CNI_COMMAND: 'ADD' },
    prints: { cniVersion: '0.4.0', code: 7, msg: 'ipam.subnet: bad', details: '10.0.0.0/33' },
    exit: 1,
    posted: ['/Cni.Add'],
  },
  {
    name: 'a 503 without a CNI body is 11 with the daemon’s Err',
    reply: { status: 503, body: '{"Err":"etcd unavailable"}' },
    env: { CNI_COMMAND: 'ADD' },
    prints: { cniVersion: '0.4.0', code: 11, msg: 'etcd unavailable' },
    exit: 1,
    posted: ['/Cni.Add'],
  },
  {
    name: 'a 503 to STATUS is 50',
    reply: { status: 503, body: '{"Err":"etcd unavailable"}' },
    env: { CNI_COMMAND: 'STATUS' },
    prints: { cniVersion: '0.4.0', code: 50, msg: 'etcd unavailable' },
    exit: 1,
    posted: ['/Cni.Status'],
  },
  {
    name: 'any other unexpected answer is 999 naming the HTTP status',
    reply: { status: 404, body: '{"Err":"unknown route"}' },
    env: { CNI_COMMAND: 'ADD' },
    prints: {
      cniVersion: '0.4.0',
      code: 999,
      msg: 'kontena-ipam answered HTTP 404: unknown route',
    },
    exit: 1,
    posted: ['/Cni.Add'],
  },
  {
    name: 'an answer that is not JSON is 999 quoting it',
    reply: { status: 500, body: 'oops' },
    env: { CNI_COMMAND: 'DEL' },
    prints: { cniVersion: '0.4.0', code: 999, msg: 'kontena-ipam answered HTTP 500: oops' },
    exit: 1,
    posted: ['/Cni.Del'],
  },
  {
    name: 'VERSION is answered without the daemon',
    env: { CNI_COMMAND: 'VERSION' },
    stdin: '',
    prints: {
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    },
    exit: 0,
    posted: [],
  },
  {
    name: 'an unknown verb is 4, without the daemon',
    env: { CNI_COMMAND: 'NOPE' },
    prints: {
      cniVersion: '0.4.0',
      code: 4,
      msg: 'CNI_COMMAND "NOPE" is not a CNI verb (ADD, DEL, CHECK, GC, STATUS, VERSION)',
    },
    exit: 1,
    posted: [],
  },
  {
    name: 'a missing CNI_COMMAND is 4',
    env: {},
    prints: { cniVersion: '0.4.0', code: 4, msg: 'CNI_COMMAND is missing' },
    exit: 1,
    posted: [],
  },
  {
    name: 'a config that is not JSON is 6',
    env: { CNI_COMMAND: 'ADD' },
    stdin: '{',
    prints: { cniVersion: '1.1.0', code: 6, msg: 'the network configuration on stdin is not JSON' },
    partial: true,
    exit: 1,
    posted: [],
  },
  {
    name: 'a config that is JSON but not an object is 6',
    env: { CNI_COMMAND: 'ADD' },
    stdin: 'null',
    prints: {
      cniVersion: '1.1.0',
      code: 6,
      msg: 'the network configuration on stdin is not a JSON object',
    },
    exit: 1,
    posted: [],
  },
  {
    name: 'a relative ipam.socket is 7, naming it',
    env: { CNI_COMMAND: 'ADD' },
    stdin: JSON.stringify({
      cniVersion: '1.0.0',
      ipam: { type: 'kontena-ipam', socket: 'x.sock' },
    }),
    prints: {
      cniVersion: '1.0.0',
      code: 7,
      msg: 'ipam.socket must be an absolute path of a unix socket',
      details: 'x.sock',
    },
    exit: 1,
    posted: [],
  },
];

describe.each(CLIENTS)('the $name client as a process', ({ argv }) => {
  it.each(CASES)('$name', async (c) => {
    seen.length = 0;
    if (c.reply) reply = c.reply;
    const out = await exec(argv, { ...c.env, SECRET: 'not sent' }, c.stdin ?? config());
    expect(out.code).toBe(c.exit);
    if (c.prints === undefined) expect(out.stdout).toBe('');
    else if (c.partial) expect(JSON.parse(out.stdout)).toMatchObject(c.prints);
    else expect(JSON.parse(out.stdout)).toEqual(c.prints);
    // One JSON object on one line: what libcni reads.
    expect(out.stdout === '' || /^[^\n]+\n$/.test(out.stdout)).toBe(true);
    expect(seen.map((s) => s.path)).toEqual(c.posted);
    for (const s of seen) {
      expect(s.body.env).toEqual(c.env);
      expect(s.body.config).toEqual(JSON.parse(c.stdin ?? config()));
    }
  });

  it('no daemon on the socket: 11 naming the socket; STATUS: 50', async () => {
    const none = join(dir, 'none.sock');
    const del = await exec(argv, { CNI_COMMAND: 'DEL' }, config({ socket: none }));
    expect(del.code).toBe(1);
    expect(JSON.parse(del.stdout)).toMatchObject({
      cniVersion: '0.4.0',
      code: 11,
      msg: `kontena-ipam is not answering on ${none}: is it running on this host?`,
    });
    const status = await exec(argv, { CNI_COMMAND: 'STATUS' }, config({ socket: none }));
    expect(JSON.parse(status.stdout)).toMatchObject({ code: 50 });
  });

  it('--help prints what it is and exits 0; any other argument exits 2 (a runtime passes none)', async () => {
    const help = await exec(argv, {}, '', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('A CNI IPAM plugin');
    expect(help.stdout).toContain('kontena-ipam install-cni');
    const other = await exec(argv, {}, '', ['ADD']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('run by a CNI runtime, not by hand');
  });
});

describe('a daemon that never answers', () => {
  it(
    'both clients give up after CLIENT_TIMEOUT_MS with 11: a runtime is never held',
    async () => {
      const silent = createServer(() => undefined);
      const path = join(dir, 'silent-both.sock');
      await new Promise<void>((resolve) => silent.listen(path, resolve));
      try {
        const outs = await Promise.all(
          CLIENTS.map(({ argv }) => exec(argv, { CNI_COMMAND: 'ADD' }, config({ socket: path }))),
        );
        for (const out of outs) {
          expect(out.code).toBe(1);
          expect(JSON.parse(out.stdout)).toMatchObject({
            code: 11,
            details: `no answer within ${CLIENT_TIMEOUT_MS} ms`,
          });
        }
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    },
    CLIENT_TIMEOUT_MS * 2,
  );
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
