import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../src/config.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('the root README', () => {
  it('documents every environment variable in its configuration table', () => {
    const rows = readme.split('\n').filter((line) => line.startsWith('| `'));
    const documented = rows.map((row) => /^\| `([A-Z0-9_]+)`/.exec(row)?.[1]);
    expect(ENV_VARS.filter((name) => !documented.includes(name))).toEqual([]);
  });

  it('keeps the quick start commands', () => {
    expect(readme).toContain('./start.sh');
    expect(readme).toContain('bash .ci/run');
  });
});
