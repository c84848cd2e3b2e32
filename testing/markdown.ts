/**
 * Reading the project's Markdown docs in tests. A test that checks what a page says (a recipe's
 * commands, a code block) takes it from the page itself, by file and heading, so page and test
 * cannot drift apart; a section moved to another page only changes the path the test passes.
 */
import { readFileSync } from 'node:fs';

/** FENCE opens or closes a fenced code block: its info string (the language) is captured. */
const FENCE = /^```\s*([\w-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;

/**
 * markdownSection is the text under the heading `heading` (its exact text, at any level) of the
 * Markdown file `file`, up to the next heading of the same or a higher level. Headings inside
 * code blocks do not count. Throws naming the file and the heading when there is none.
 */
export function markdownSection(file: string, heading: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  let inFence = false;
  let level = 0;
  const out: string[] = [];
  for (const line of lines) {
    const fence = FENCE.test(line);
    const h = !inFence && !fence ? HEADING.exec(line) : null;
    if (fence) inFence = !inFence;
    if (level === 0) {
      if (h && h[2] === heading) level = (h[1] as string).length;
      continue;
    }
    if (h && (h[1] as string).length <= level) break;
    out.push(line);
  }
  if (level === 0) throw new Error(`${file} has no heading "${heading}"`);
  return out.join('\n');
}

/** codeBlocks are the fenced code blocks of `text` (their content), of language `lang` if given. */
export function codeBlocks(text: string, lang?: string): string[] {
  const blocks: string[] = [];
  let current: string[] | undefined;
  let take = false;
  for (const line of text.split('\n')) {
    const fence = FENCE.exec(line);
    if (fence && current === undefined) {
      current = [];
      take = lang === undefined || fence[1] === lang;
    } else if (fence && current !== undefined) {
      if (take) blocks.push(current.join('\n'));
      current = undefined;
    } else {
      current?.push(line);
    }
  }
  return blocks;
}

/**
 * paragraph is the paragraph of `text` (lines up to a blank line) that begins with `start`.
 * Throws when there is none.
 */
export function paragraph(text: string, start: string): string {
  const found = text.split(/\n\s*\n/).find((p) => p.trimStart().startsWith(start));
  if (found === undefined) throw new Error(`no paragraph begins with "${start}"`);
  return found.trim();
}

/** inlineCode is the inline code spans of `text` (`like this`), in order, outside code blocks. */
export function inlineCode(text: string): string[] {
  return [...text.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`\n]+)`/g)].map(
    (m) => m[1] as string,
  );
}

/**
 * shellCommands are the commands of a shell snippet that run `program`, each as its arguments
 * after the program (comments cut, split on whitespace: the docs quote nothing there).
 */
export function shellCommands(snippet: string, program: string): string[][] {
  return snippet
    .split('\n')
    .map((line) => line.replace(/\s#.*$/, '').trim())
    .filter((line) => line.startsWith(`${program} `))
    .map((line) => line.split(/\s+/).slice(1));
}
