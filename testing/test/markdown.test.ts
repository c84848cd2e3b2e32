/** Reading Markdown docs by file and heading (markdown.ts), on a page written for the test. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { codeBlocks, inlineCode, markdownSection, paragraph, shellCommands } from '../markdown.js';

const dir = mkdtempSync(join(tmpdir(), 'kontena-markdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const page = join(dir, 'page.md');
writeFileSync(
  page,
  [
    '# Title',
    'intro',
    '## Recipe',
    'Run these:',
    '',
    '```sh',
    '# a comment, not a heading',
    'export X=1   # not a tool',
    'tool add root                # asks for a password',
    'tool grant root   root',
    '```',
    '',
    '### A subsection stays in',
    '```json',
    '{"a": 1}',
    '```',
    '',
    '**Uninstalling.** Remove it: `tool del --prefix /p/`, then',
    '`tool user delete x`.',
    '',
    '**Other.** `tool not-this`',
    '## Next',
    '```sh',
    'tool elsewhere',
    '```',
  ].join('\n'),
);

describe('markdownSection', () => {
  test('the text under a heading, subsections in, up to the next heading of its level', () => {
    const section = markdownSection(page, 'Recipe');
    expect(section).toContain('### A subsection stays in');
    expect(section).toContain('**Other.**');
    expect(section).not.toContain('tool elsewhere');
    expect(section).not.toContain('intro');
  });

  test('a heading that is not there is named, with the file', () => {
    expect(() => markdownSection(page, 'Gone')).toThrow(`${page} has no heading "Gone"`);
  });
});

describe('what a section holds', () => {
  const section = markdownSection(page, 'Recipe');

  test('its code blocks, by language', () => {
    expect(codeBlocks(section)).toHaveLength(2);
    expect(codeBlocks(section, 'json')).toEqual(['{"a": 1}']);
    expect(codeBlocks(section, 'sh')[0]).toContain('tool grant root   root');
  });

  test("a snippet's commands of one program, comments cut", () => {
    expect(shellCommands(codeBlocks(section, 'sh')[0] ?? '', 'tool')).toEqual([
      ['add', 'root'],
      ['grant', 'root', 'root'],
    ]);
  });

  test('the inline code of one paragraph', () => {
    expect(inlineCode(paragraph(section, '**Uninstalling.**'))).toEqual([
      'tool del --prefix /p/',
      'tool user delete x',
    ]);
    expect(() => paragraph(section, '**Missing.**')).toThrow('no paragraph begins with');
  });
});
