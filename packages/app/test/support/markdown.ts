/**
 * The repository's Markdown pages as data, for the tests that hold the docs to the code: their
 * links, their inline code and code blocks, their headings' anchors. Parsed with marked's lexer
 * (the same tokens GitHub's renderer sees), anchors slugged with github-slugger (GitHub's rule).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import { marked, type Token, type Tokens } from 'marked';

/** ROOT is the repository's root folder. */
export const ROOT = resolve(fileURLToPath(new URL('../../../..', import.meta.url)));

/** Page is one Markdown file: its path from ROOT, its text and its tokens. */
export interface Page {
  readonly path: string;
  readonly text: string;
  readonly tokens: Token[];
}

/** readPage reads and lexes one Markdown file, `path` relative to ROOT. */
export function readPage(path: string): Page {
  const text = readFileSync(join(ROOT, path), 'utf8');
  return { path, text, tokens: marked.lexer(text) };
}

/** docsPages lists `docs/*.md`, relative to ROOT, sorted. */
export function docsPages(): string[] {
  return readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
}

/** tokensOf yields every token of a page, nested ones (list items, table cells) included. */
export function tokensOf(page: Page): Token[] {
  const all: Token[] = [];
  marked.walkTokens(page.tokens, (token) => {
    all.push(token);
  });
  return all;
}

/** linksOf returns the href of every link and image in a page. */
export function linksOf(page: Page): string[] {
  return tokensOf(page)
    .filter((t): t is Tokens.Link | Tokens.Image => t.type === 'link' || t.type === 'image')
    .map((t) => t.href);
}

/** codeSpansOf returns the text of every inline code span of a page. */
export function codeSpansOf(page: Page): string[] {
  return tokensOf(page)
    .filter((t): t is Tokens.Codespan => t.type === 'codespan')
    .map((t) => t.text);
}

/** codeBlocksOf returns the text of every fenced or indented code block of a page. */
export function codeBlocksOf(page: Page): string[] {
  return tokensOf(page)
    .filter((t): t is Tokens.Code => t.type === 'code')
    .map((t) => t.text);
}

/** plainText is what a heading shows: its text without Markdown syntax. */
function plainText(tokens: Token[] | undefined): string {
  return (tokens ?? [])
    .map((t) => {
      if ('tokens' in t && t.tokens) return plainText(t.tokens);
      return 'text' in t ? String(t.text) : '';
    })
    .join('');
}

/** anchorsOf returns the anchor GitHub gives each heading of a page (duplicates numbered). */
export function anchorsOf(page: Page): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const token of tokensOf(page)) {
    if (token.type === 'heading')
      anchors.add(slugger.slug(plainText((token as Tokens.Heading).tokens)));
  }
  return anchors;
}

/** section returns the tokens under the heading whose text starts with `title`, to the next heading of its depth or above. */
export function section(page: Page, title: string): Token[] {
  const start = page.tokens.findIndex(
    (t) => t.type === 'heading' && (t as Tokens.Heading).text.startsWith(title),
  );
  if (start < 0) throw new Error(`${page.path} has no heading "${title}"`);
  const depth = (page.tokens[start] as Tokens.Heading).depth;
  const rest = page.tokens.slice(start + 1);
  const end = rest.findIndex((t) => t.type === 'heading' && (t as Tokens.Heading).depth <= depth);
  return end < 0 ? rest : rest.slice(0, end);
}

// Build output, dependencies and local state are not part of the repository a reader sees.
const SKIPPED = new Set(['node_modules', 'dist', '.git', '.turbo', '.state', 'coverage']);

/** repositoryFiles lists every file and folder under ROOT (relative, '/'-separated), build output left out. */
export function repositoryFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (SKIPPED.has(name)) continue;
      const full = join(dir, name);
      out.push(relative(ROOT, full));
      if (statSync(full).isDirectory()) walk(full);
    }
  };
  walk(ROOT);
  return out;
}

/** resolveLink is the ROOT-relative path a page's relative link points at. */
export function resolveLink(page: Page, href: string): string {
  return relative(ROOT, resolve(ROOT, dirname(page.path), href));
}
