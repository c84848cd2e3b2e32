/**
 * A scratch project outside the workspace that installs the tarballs the way a stranger would
 * (third-party modules from the registry, through the pnpm store the workspace install filled),
 * then imports each package with `import` and with `require`, runs each bin's --help, checks
 * that peers resolve to the consumer's own copy, and type-checks and runs the README examples.
 */
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Example, toModule } from './examples.js';
import type { Manifest, PackedPackage } from './pack.js';
import { run, runOk } from './run.js';

/** What the consumer project is made of. */
export interface ConsumerSpec {
  root: string;
  dir: string;
  packages: readonly PackedPackage[];
  examples: readonly Example[];
  /** Range of @types/node, for type-checking the examples (the workspace's own). */
  nodeTypes: string;
}

/** installConsumer writes the project and installs it; throws if the install fails. */
export function installConsumer(spec: ConsumerSpec): void {
  const own = Object.fromEntries(spec.packages.map((p) => [p.manifest.name, `file:${p.tarball}`]));
  const dependencies: Record<string, string> = { ...own, '@types/node': spec.nodeTypes };
  // A peer is the consumer's to install (the store's etcd3); so are the examples' imports.
  for (const pkg of spec.packages) {
    for (const [name, range] of Object.entries(pkg.manifest.peerDependencies ?? {})) {
      if (!(name in own)) dependencies[name] = range;
    }
  }
  for (const name of spec.examples.flatMap((e) => bareImports(e.code))) {
    if (!(name in dependencies)) dependencies[name] = rangeIn(spec.packages, name);
  }
  writeFileSync(
    join(spec.dir, 'package.json'),
    JSON.stringify({
      name: 'kontena-ipam-pack-check-consumer',
      private: true,
      type: 'module',
      dependencies,
      // The packages depend on each other by version; point those at the tarballs too.
      pnpm: { overrides: own },
    }),
  );
  const store = runOk('pnpm', ['store', 'path'], { cwd: spec.root }).stdout.trim();
  runOk(
    'pnpm',
    [
      'install',
      '--ignore-workspace',
      '--prefer-offline',
      '--store-dir',
      store,
      '--config.strict-peer-dependencies=true',
      '--reporter=append-only',
    ],
    { cwd: spec.dir },
  );
}

/** checkConsumer runs every check on the installed project and returns the problems. */
export function checkConsumer(spec: ConsumerSpec): string[] {
  return [
    ...checkImports(spec),
    ...checkPeers(spec),
    ...checkBins(spec),
    ...checkCniClient(spec),
    ...checkExamples(spec),
  ];
}

/** NATIVE_TARGETS: the static CNI clients @kontena-ipam/cni ships (packages/cni/scripts/build-native.mjs). */
const NATIVE_TARGETS = ['linux-x64', 'linux-arm64'];

/**
 * checkCniClient: the cni tarball ships a native client for each target, and the app's
 * `install-cni` from the tarballs installs this host's, which answers a runtime's VERSION.
 */
function checkCniClient(spec: ConsumerSpec): string[] {
  if (!spec.packages.some((p) => p.manifest.name === '@kontena-ipam/cni')) return [];
  const problems: string[] = [];
  const cni = dirname(
    realpathSync(
      createRequire(join(spec.dir, 'package.json')).resolve('@kontena-ipam/cni/package.json'),
    ),
  );
  for (const target of NATIVE_TARGETS) {
    if (!existsSync(join(cni, 'dist', 'native', target, 'kontena-ipam-cni'))) {
      problems.push(`@kontena-ipam/cni ships no native client for ${target}`);
    }
  }
  const pluginDir = join(spec.dir, 'cni-bin');
  const installed = run(
    join(spec.dir, 'node_modules', '.bin', 'kontena-ipam'),
    ['install-cni', pluginDir],
    {
      cwd: spec.dir,
    },
  );
  if (installed.status !== 0 || !installed.stdout.includes('the native client')) {
    problems.push(
      `kontena-ipam install-cni did not install the native client:\n${installed.stdout}${installed.stderr}`,
    );
    return problems;
  }
  const version = run(join(pluginDir, 'kontena-ipam'), [], {
    cwd: spec.dir,
    env: { CNI_COMMAND: 'VERSION' },
  });
  if (version.status !== 0 || !version.stdout.includes('"supportedVersions"')) {
    problems.push(
      `the installed CNI client failed VERSION (exit ${version.status}):\n${version.stdout}${version.stderr}`,
    );
  }
  return problems;
}

/** checkImports: each package loads with import and with require, with the same exports. */
function checkImports(spec: ConsumerSpec): string[] {
  const names = spec.packages.map((p) => p.manifest.name);
  const body = (load: string) =>
    `const out = {};\nfor (const name of ${JSON.stringify(names)}) out[name] = Object.keys(${load}).sort();\nconsole.log(JSON.stringify(out));\n`;
  writeFileSync(join(spec.dir, 'imports.mjs'), body('await import(name)'));
  writeFileSync(join(spec.dir, 'imports.cjs'), body('require(name)'));
  const problems: string[] = [];
  const loaded: Record<string, Record<string, string[]>> = {};
  for (const file of ['imports.mjs', 'imports.cjs']) {
    const result = run(process.execPath, [file], { cwd: spec.dir });
    if (result.status !== 0) problems.push(`node ${file} failed:\n${result.stderr}`);
    else loaded[file] = JSON.parse(result.stdout) as Record<string, string[]>;
  }
  const esm = loaded['imports.mjs'];
  const cjs = loaded['imports.cjs'];
  for (const name of names) {
    if (esm && (esm[name]?.length ?? 0) === 0) problems.push(`import('${name}') exports nothing`);
    if (esm && cjs && JSON.stringify(esm[name]) !== JSON.stringify(cjs[name])) {
      problems.push(`require('${name}') and import('${name}') export different names`);
    }
  }
  return problems;
}

/** checkPeers: a package and the consumer see one copy of each peer (two would split types). */
function checkPeers(spec: ConsumerSpec): string[] {
  const fromConsumer = createRequire(join(spec.dir, 'package.json'));
  const problems: string[] = [];
  for (const pkg of spec.packages) {
    const installed = dirname(
      realpathSync(fromConsumer.resolve(`${pkg.manifest.name}/package.json`)),
    );
    const fromPackage = createRequire(join(installed, 'package.json'));
    for (const peer of Object.keys(pkg.manifest.peerDependencies ?? {})) {
      const mine = realpathSync(fromConsumer.resolve(`${peer}/package.json`));
      const theirs = realpathSync(fromPackage.resolve(`${peer}/package.json`));
      if (mine !== theirs) problems.push(`${pkg.manifest.name} loads its own ${peer}: ${theirs}`);
    }
  }
  return problems;
}

/** checkBins: each bin the tarballs declare starts and answers --help. */
function checkBins(spec: ConsumerSpec): string[] {
  const problems: string[] = [];
  for (const name of spec.packages.flatMap((p) => binNames(p.manifest))) {
    const result = run(join(spec.dir, 'node_modules', '.bin', name), ['--help'], { cwd: spec.dir });
    if (result.status !== 0 || result.stdout.trim() === '') {
      problems.push(`${name} --help exited ${result.status}:\n${result.stdout}${result.stderr}`);
    }
  }
  return problems;
}

/** checkExamples: every example type-checks against the packed types; runnable ones print right. */
function checkExamples(spec: ConsumerSpec): string[] {
  for (const example of spec.examples) writeFileSync(join(spec.dir, example.file), example.code);
  writeFileSync(
    join(spec.dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      files: spec.examples.map((e) => e.file),
    }),
  );
  const problems: string[] = [];
  const tsc = run(join(spec.root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], {
    cwd: spec.dir,
  });
  if (tsc.status !== 0) problems.push(`README examples do not type-check:\n${tsc.stdout}`);
  for (const example of spec.examples.filter((e) => e.run)) {
    const file = example.file.replace(/\.ts$/, '.mjs');
    writeFileSync(join(spec.dir, file), toModule(example));
    const result = run(process.execPath, [file], { cwd: spec.dir });
    const printed = result.stdout.split('\n').filter((line) => line !== '');
    if (result.status !== 0 || JSON.stringify(printed) !== JSON.stringify(example.expected)) {
      problems.push(
        `${example.pkg} README example printed ${JSON.stringify(printed)}, its comments say ${JSON.stringify(example.expected)}${result.stderr ? `\n${result.stderr}` : ''}`,
      );
    }
  }
  return problems;
}

/** bareImports lists the packages a piece of code imports (not relative paths, not node:). */
function bareImports(code: string): string[] {
  const names = [...code.matchAll(/\bfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return names
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

/** rangeIn finds the range the workspace itself uses for a third-party package. */
function rangeIn(packages: readonly PackedPackage[], name: string): string {
  for (const { source } of packages) {
    for (const field of ['dependencies', 'peerDependencies', 'devDependencies'] as const) {
      const range = source[field]?.[name];
      if (range && !range.startsWith('workspace:')) return range;
    }
  }
  throw new Error(`a README example imports ${name}, which no package depends on`);
}

function binNames(manifest: Manifest): string[] {
  if (typeof manifest.bin === 'string') return [manifest.name.replace(/^@[^/]+\//, '')];
  return Object.keys(manifest.bin ?? {});
}
