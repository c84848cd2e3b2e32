/**
 * The README examples a stranger copies, taken from the READMEs inside the tarballs (what npm
 * shows): the first ```ts block under "## Example". Each is type-checked against the packed
 * types; the runnable ones are run, and what they print must match their `// …` comments.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import type { PackedPackage } from './pack.js';

/** An example to check: whose README, and whether it can run here (the store's needs etcd). */
export interface ExampleSpec {
  pkg: string;
  run: boolean;
}

/** The examples checked: cidr's runs as is; the store's talks to etcd, so it is type-checked. */
export const EXAMPLES: readonly ExampleSpec[] = [
  { pkg: '@kontena-ipam/cidr', run: true },
  { pkg: '@kontena-ipam/store', run: false },
];

/** An example as found: its code, its file name in the consumer, what it should print. */
export interface Example extends ExampleSpec {
  code: string;
  file: string;
  /** The `// …` comment after each console.log, in order. */
  expected: string[];
}

/** readExample finds the example in a packed README, or says why it cannot. */
export function readExample(spec: ExampleSpec, pkg: PackedPackage): Example | string {
  const readme = readFileSync(join(pkg.unpacked, 'package', 'README.md'), 'utf8');
  const code = /^## Example\n[\s\S]*?```ts\n([\s\S]*?)```/m.exec(readme)?.[1];
  if (code === undefined) return `${spec.pkg}: README.md has no \`\`\`ts block under "## Example"`;
  const expected = [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.+)$/gm)].map((m) =>
    m[1]!.trim(),
  );
  if (spec.run && expected.length === 0) {
    return `${spec.pkg}: the README example has no console.log(…); // expected output`;
  }
  const file = `example-${spec.pkg.replace(/^@[^/]+\//, '')}.ts`;
  return { ...spec, code, file, expected };
}

/** toModule turns an example's TypeScript into the ES module Node runs. */
export function toModule(example: Example): string {
  return ts.transpileModule(example.code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: example.file,
  }).outputText;
}
