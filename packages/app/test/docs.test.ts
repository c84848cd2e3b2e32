/**
 * The docs against the repository: a renamed file, a moved heading, a new store file or a new
 * etcd key family that the docs do not follow fails here, by name. What is scanned: the root
 * README and every page in docs/ (links also in the other Markdown files a reader lands on).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAddress, parseSubnet } from '@kontena-ipam/cidr';
import {
  KeyLayout,
  parseContainerId,
  parseIfName,
  parseNodeId,
  parsePoolId,
} from '@kontena-ipam/store';
import type { Tokens } from 'marked';
import { describe, expect, it } from 'vitest';
import {
  anchorsOf,
  codeBlocksOf,
  codeSpansOf,
  docsPages,
  linksOf,
  type Page,
  ROOT,
  readPage,
  repositoryFiles,
  resolveLink,
  section,
  tokensOf,
} from './support/markdown.js';

const DOCS = ['README.md', ...docsPages()];
// Pages whose links a reader follows from the docs: the package READMEs and the reports.
const LINKED = [
  ...DOCS,
  'BENCHMARKS.md',
  'RELIABILITY.md',
  'testing/README.md',
  ...readdirSync(join(ROOT, 'packages')).map((name) => `packages/${name}/README.md`),
].filter((path) => existsSync(join(ROOT, path)));

const pages = new Map<string, Page>(LINKED.map((path) => [path, readPage(path)]));
const page = (path: string): Page => pages.get(path) ?? readPage(path);

describe('links', () => {
  it('every relative link of the docs resolves, and its #anchor is a heading there', () => {
    const broken: string[] = [];
    for (const path of LINKED) {
      const from = page(path);
      for (const href of linksOf(from)) {
        if (/^[a-z]+:/i.test(href)) continue; // https:, mailto:
        const [file = '', anchor] = href.split('#');
        const target = file === '' ? from.path : resolveLink(from, decodeURI(file));
        if (!existsSync(join(ROOT, target))) {
          broken.push(`${path}: ${href} (no ${target})`);
        } else if (anchor && target.endsWith('.md') && !anchorsOf(page(target)).has(anchor)) {
          broken.push(`${path}: ${href} (${target} has no heading #${anchor})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README links every page in docs/', () => {
    const readme = page('README.md');
    const linked = new Set(
      linksOf(readme).map((href) => resolveLink(readme, href.split('#')[0] ?? '')),
    );
    expect(docsPages().filter((path) => !linked.has(path))).toEqual([]);
  });
});

// Top-level entries of the repository: a path written from the root starts with one of them.
const TOP = new Set(
  readdirSync(ROOT).filter((name) => !['node_modules', '.git', '.turbo', '.state'].includes(name)),
);
const FILE_NAME = /^[\w.@-]+(\/[\w.@-]+)*\.(ts|js|mjs|json|ya?ml|md|sh)$/;

/** pathWords picks the words of a code span or block that name a repository file or folder. */
function pathWords(text: string): string[] {
  return text
    .split(/\s+/)
    .map((word) => word.replace(/^[("'[]+/, '').replace(/[)"',.:;\]]+$/, ''))
    .map((word) => word.replace(/^\.\//, ''))
    .filter((word) => word !== '' && !/[=*<>$…]|:\/\/|^[-/~#]/.test(word))
    .filter((word) => {
      const first = word.split('/')[0] ?? '';
      return (word.includes('/') && TOP.has(first)) || FILE_NAME.test(word);
    });
}

// Paths the repository ignores on purpose (a folder the operator fills, local state) may be named.
const IGNORED = new Set(
  readFileSync(join(ROOT, '.gitignore'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('/') && !line.includes('*'))
    .map((line) => line.replace(/^\/|\/$/g, '')),
);

describe('repository paths in the docs', () => {
  const files = repositoryFiles();
  const exists = (word: string): boolean => {
    const path = word.replace(/\/$/, '');
    if (IGNORED.has(path)) return true;
    if (TOP.has(path.split('/')[0] ?? '') && path.includes('/'))
      return existsSync(join(ROOT, path));
    // A name written from inside a package (`store/src/layout/keys.ts`, `test/support/moby.ts`, `keys.ts`).
    return files.some((file) => file === path || file.endsWith(`/${path}`));
  };

  it('every file or folder named in code exists (root-relative, or the tail of a path)', () => {
    const missing: string[] = [];
    for (const path of DOCS) {
      const p = page(path);
      const words = [...codeSpansOf(p), ...codeBlocksOf(p)].flatMap(pathWords);
      for (const word of new Set(words)) if (!exists(word)) missing.push(`${path}: ${word}`);
    }
    expect(missing).toEqual([]);
  });

  it('the scan finds what it is meant to find (a check that finds nothing proves nothing)', () => {
    expect(pathWords('see packages/store/src/keys.ts, then (docker/compose.yml).')).toEqual([
      'packages/store/src/keys.ts',
      'docker/compose.yml',
    ]);
    expect(pathWords('keys.ts test/support/moby.ts ETCD_CA_FILE=/etc/x.pem http://a/b.md')).toEqual(
      ['keys.ts', 'test/support/moby.ts'],
    );
    expect(exists('packages/store/src/layout/keys.ts')).toBe(true);
    expect(exists('store/src/layout/keys.ts')).toBe(true);
    expect(exists('packages/store/src/no-such-file.ts')).toBe(false);
    expect(exists('no-such-file.ts')).toBe(false);
    expect(exists('docker/certs')).toBe(true);
  });
});

// What KeyLayout builds, one sample key per family: the family and how many segments follow the root.
const layout = new KeyLayout();
const pool = parsePoolId('p');
const node = parseNodeId('n');
const SAMPLES = [
  layout.pool(pool),
  layout.hold(pool, node),
  layout.subnet(parseSubnet('10.0.0.0/24')),
  layout.address(pool, parseAddress('10.0.0.1')),
  layout.block(pool, 0),
  layout.affinity(pool, node, 0),
  layout.attachment(pool, node, { container: parseContainerId('c'), ifname: parseIfName('eth0') }),
  layout.guard,
  layout.node(node),
  layout.host(node),
];
const SHAPES = new Map(
  SAMPLES.map((key) => {
    const segments = key.slice(layout.root.length).split('/');
    return [segments[0] ?? '', segments.length] as const;
  }),
);
const CURRENT = /\/(v\d+)\/$/.exec(layout.root)?.[1] as string;
/** KeyLayout's family roots (`poolsPrefix`, `holdsRoot`, …, `guard`), read off the object itself. */
const FAMILIES = new Set(
  Object.values(layout)
    .filter((v): v is string => typeof v === 'string' && v !== layout.root)
    .map((key) => key.slice(layout.root.length).split('/')[0] ?? ''),
);

/** keyProblem says what is wrong with a key path as documented (after the root), or undefined. */
function keyProblem(version: string, rest: string): string | undefined {
  const segments = rest
    .replace(/[.:]+$/, '')
    .split('/')
    .filter((s) => s !== '' && s !== '…');
  // `<prefix>v1/` and `/kontena/ipam/v1/` alone name the old layout (its keys are deleted whole).
  if (version !== CURRENT)
    return segments.length === 0 ? undefined : `layout ${version}, not ${CURRENT}`;
  if (segments.length === 0) return undefined;
  const family = segments[0] as string;
  const depth = SHAPES.get(family);
  if (depth === undefined) return `KeyLayout builds no "${family}/" keys`;
  if (segments.length > depth)
    return `"${family}/" keys have ${depth} segments, not ${segments.length}`;
  return undefined;
}

describe('etcd keys in the docs', () => {
  it('KeyLayout has a sample key for every family it builds (else add one above)', () => {
    expect([...SHAPES.keys()].sort()).toEqual([...FAMILIES].sort());
  });

  it('every key path shown is one KeyLayout builds, in the current layout', () => {
    const wrong: string[] = [];
    const keyPath = /(?:\/kontena\/ipam\/|<prefix>)(v\d+)\/([^\s`'"|)\],;]*)/g;
    let found = 0;
    for (const path of [...DOCS, 'packages/store/README.md']) {
      for (const match of page(path).text.matchAll(keyPath)) {
        found++;
        const problem = keyProblem(match[1] as string, match[2] as string);
        if (problem) wrong.push(`${path}: ${match[0]}: ${problem}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(found).toBeGreaterThan(20);
  });

  it('the check refuses what it should', () => {
    expect(keyProblem('v2', 'addresses/lan/10.99.0.215')).toBeUndefined();
    expect(keyProblem('v2', 'subnets/10.80.0.0/24')).toBeUndefined();
    expect(keyProblem('v1', '')).toBeUndefined();
    expect(keyProblem('v1', 'addresses/lan/10.99.0.215')).toBe('layout v1, not v2');
    expect(keyProblem('v2', 'leases/n')).toBe('KeyLayout builds no "leases/" keys');
    expect(keyProblem('v2', 'holds/p/n/x')).toBe('"holds/" keys have 3 segments, not 4');
  });

  it("the architecture page's key table has one row per family, shaped as KeyLayout builds it", () => {
    const arch = page('docs/architecture.md');
    const table = section(arch, 'Key layout').find((t) => t.type === 'table') as Tokens.Table;
    const keys = table.rows.map((row) => row[0]?.text.replace(/`/g, '') ?? '');
    expect(keys.map((key) => key.split('/')[0]).sort()).toEqual([...FAMILIES].sort());
    expect(keys.filter((key) => keyProblem(CURRENT, key) !== undefined)).toEqual([]);
    expect(keys.map((key) => [key.split('/')[0], key.split('/').length])).toEqual(
      keys.map((key) => [key.split('/')[0], SHAPES.get(key.split('/')[0] ?? '')]),
    );
  });
});

describe('the architecture walk', () => {
  it('names every file of packages/store/src, one line each, and no file that is gone', () => {
    const src = join(ROOT, 'packages/store/src');
    const files: string[] = [];
    const walk = (dir: string, prefix: string): void => {
      for (const name of readdirSync(dir)) {
        if (statSync(join(dir, name)).isDirectory()) walk(join(dir, name), `${prefix}${name}/`);
        else if (name.endsWith('.ts')) files.push(`${prefix}${name}`);
      }
    };
    walk(src, '');
    const arch = page('docs/architecture.md');
    const items = section(arch, 'The store, file by file')
      .flatMap((t) => tokensOf({ ...arch, tokens: [t] }))
      .filter((t): t is Tokens.ListItem => t.type === 'list_item');
    // Each item starts with the file it describes, relative to packages/store/src.
    const named = items.map((item) => /^`([^`]+)`/.exec(item.text)?.[1]);
    expect(named.sort()).toEqual(files.sort());
  });
});
