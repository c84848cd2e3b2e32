import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it, vi } from 'vitest';

// The README promises a runnable example: run it, against this source tree, and check what it prints.
const here = fileURLToPath(new URL('.', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cidr-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs the README example and prints what its comments say', async () => {
  const readme = readFileSync(join(here, '../README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const file = join(dir, 'example.ts');
  writeFileSync(
    file,
    code!.replace("'@kontena-ipam/cidr'", JSON.stringify(join(here, '../src/index.ts'))),
  );
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args.join(' '));
  });
  try {
    await import(file);
  } finally {
    log.mockRestore();
  }
  expect(printed).toEqual(['10.80.1.2/24']);
});
