/**
 * Builds the Go client (native/) into dist/native/<platform>-<arch>/kontena-ipam-cni for every
 * target in TARGETS, static (CGO_ENABLED=0), so one file runs on any Linux of that architecture.
 * The names use node's process.platform and process.arch, which is how install-cni finds the
 * one for its host.
 *
 * Without a Go toolchain the build warns and ships no binary: install-cni then writes the
 * node launcher, which works but starts ~10x slower (benchmarks/cni-start). Set
 * KONTENA_REQUIRE_NATIVE=1 (CI does, and a release must) to make a missing toolchain an error.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(pkg, 'dist', 'native');

/** TARGETS: node's name for the target, Go's GOOS and GOARCH for it. */
const TARGETS = [
  { name: 'linux-x64', goos: 'linux', goarch: 'amd64' },
  { name: 'linux-arm64', goos: 'linux', goarch: 'arm64' },
];

// A binary left from an earlier build would be installed as if it were this source's.
rmSync(out, { recursive: true, force: true });
const go = process.env.GO ?? 'go';
if (spawnSync(go, ['version'], { stdio: 'ignore' }).status !== 0) {
  const msg = `no Go toolchain (${go}): the native CNI client is not built; install-cni will install the node client`;
  if (process.env.KONTENA_REQUIRE_NATIVE === '1') {
    console.error(`build-native: ${msg}, and KONTENA_REQUIRE_NATIVE=1 requires it`);
    process.exit(1);
  }
  console.warn(`build-native: warning: ${msg}`);
  process.exit(0);
}

const native = join(pkg, 'native');
// GOPROXY=off and GOTOOLCHAIN=local: the client has no dependencies, and a build never downloads.
const goEnv = { ...process.env, CGO_ENABLED: '0', GOPROXY: 'off', GOTOOLCHAIN: 'local' };
// gofmt and go vet first: the Go source gets the checks biome gives the TypeScript.
const goroot = spawnSync(go, ['env', 'GOROOT'], { encoding: 'utf8' }).stdout.trim();
const unformatted = spawnSync(join(goroot, 'bin', 'gofmt'), ['-l', '.'], {
  cwd: native,
  encoding: 'utf8',
});
if (unformatted.status !== 0 || unformatted.stdout.trim() !== '') {
  console.error(`build-native: gofmt -l lists ${unformatted.stdout.trim() || unformatted.stderr}`);
  process.exit(1);
}
if (spawnSync(go, ['vet', '.'], { cwd: native, stdio: 'inherit', env: goEnv }).status !== 0) {
  console.error('build-native: go vet failed');
  process.exit(1);
}

for (const target of TARGETS) {
  const file = join(out, target.name, 'kontena-ipam-cni');
  mkdirSync(dirname(file), { recursive: true });
  // -trimpath and an empty build id: the same source gives the same bytes on any machine.
  const built = spawnSync(go, ['build', '-trimpath', '-ldflags=-s -w -buildid=', '-o', file, '.'], {
    cwd: native,
    stdio: 'inherit',
    env: { ...goEnv, GOOS: target.goos, GOARCH: target.goarch },
  });
  if (built.status !== 0) {
    console.error(`build-native: go build for ${target.name} failed`);
    process.exit(1);
  }
  console.log(`build-native: ${file.slice(pkg.length + 1)}`);
}
