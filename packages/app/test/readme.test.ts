import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../src/config.js';

const read = (path: string): string =>
  readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

describe('the configuration page (docs/configuration.md)', () => {
  const page = read('docs/configuration.md');
  const rows = page.split('\n').filter((line) => line.startsWith('| `'));
  const documented = rows.map((row) => /^\| `([A-Z0-9_]+)`/.exec(row)?.[1]);

  it('documents every environment variable in its configuration table', () => {
    expect(ENV_VARS.filter((name) => !documented.includes(name))).toEqual([]);
  });

  it('documents no variable the app does not read', () => {
    expect(documented.filter((name) => !(ENV_VARS as readonly unknown[]).includes(name))).toEqual(
      [],
    );
  });
});

describe('the root README', () => {
  const readme = read('README.md');

  it('keeps the quick start commands', () => {
    expect(readme).toContain('./start.sh');
    expect(readme).toContain('bash .ci/run');
  });

  it('links the configuration page from its quick start', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'));
    expect(quickStart.slice(0, quickStart.indexOf('\n## ', 3))).toContain(
      '(docs/configuration.md)',
    );
  });
});
