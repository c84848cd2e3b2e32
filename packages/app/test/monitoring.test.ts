/**
 * The monitoring kit of docs/monitoring.md, checked with the real tools: the alert rules with
 * Prometheus' promtool (`check rules`, and `test rules` on synthetic series where each alert
 * must fire on its fault and stay quiet when healthy), a live `/metrics` of the built plugin
 * against a real etcd with `promtool check metrics`, and the Grafana dashboard's structure and
 * queries (PromQL that promtool accepts, naming only metrics the plugin exports).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { freePort } from '@kontena-ipam/testing/ports';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { docsPages, ROOT } from './support/markdown.js';
import { callPlugin, type PluginProcess, startPlugin } from './support/plugin-process.js';

const PROMETHEUS_DIR = join(ROOT, 'docs/prometheus');
const RULES = 'kontena-ipam.rules.yml';
const RULE_TESTS = 'kontena-ipam.rules.test.yml';
const DASHBOARD = join(ROOT, 'docs/grafana/kontena-ipam.dashboard.json');

interface Run {
  status: number | null;
  output: string;
}

/** promtool runs Debian's promtool (package prometheus) in `cwd`; `input` goes to its stdin. */
function promtool(args: string[], options: { cwd?: string; input?: string } = {}): Run {
  const result = spawnSync('promtool', args, {
    cwd: options.cwd ?? PROMETHEUS_DIR,
    input: options.input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) {
    throw new Error(`promtool: ${String(result.error)} (apt-get install -y prometheus)`);
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface AlertRule {
  alert: string;
  expr: string;
}
interface RuleTest {
  alert_rule_test: Array<{ alertname: string; exp_alerts?: unknown[] }>;
}

const rules = (
  parseYaml(readFileSync(join(PROMETHEUS_DIR, RULES), 'utf8')) as {
    groups: Array<{ rules: AlertRule[] }>;
  }
).groups.flatMap((g) => g.rules);
const ruleTests = (
  parseYaml(readFileSync(join(PROMETHEUS_DIR, RULE_TESTS), 'utf8')) as { tests: RuleTest[] }
).tests.flatMap((t) => t.alert_rule_test);

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const queries = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p, target: t })),
);

// Metrics the plugin defines and those prom-client adds (process_*, nodejs_*); `up` is Prometheus' own.
const METRIC = /\b(?:kontena_ipam|process|nodejs)_[a-z0-9_]+\b/g;
const metricsIn = (text: string): string[] => [...new Set(text.match(METRIC) ?? [])];

/** exportedNames reads the metric names of an exposition, with a histogram's _bucket/_sum/_count. */
function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name as string);
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    }
  }
  return names;
}

describe('the alert rules (docs/prometheus)', () => {
  it('promtool check rules accepts every rule', () => {
    const run = promtool(['check', 'rules', RULES]);
    expect(run.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(run.status).toBe(0);
  });

  it('promtool test rules: each alert fires on its fault and stays quiet when healthy', () => {
    const run = promtool(['test', 'rules', RULE_TESTS]);
    expect(run.output).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('the unit tests cover every alert both ways, and the page documents every alert', () => {
    const page = readFileSync(join(ROOT, 'docs/monitoring.md'), 'utf8');
    for (const { alert } of rules) {
      const cases = ruleTests.filter((c) => c.alertname === alert);
      expect(
        cases.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} fires`,
      ).toBe(true);
      expect(
        cases.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} quiet`,
      ).toBe(true);
      expect(page, alert).toContain(alert);
    }
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'KontenaIpamEtcdCallsFailing',
        'KontenaIpamEtcdUnreachable',
        'KontenaIpamHostDown',
        'KontenaIpamPoolExhausted',
        'KontenaIpamPoolHeldByAbsentHost',
        'KontenaIpamPoolNearlyFull',
      ].sort(),
    );
  });

  it('promtool test rules fails when an alert does not behave as its test says', () => {
    // The same tests against a rule that never fires: the check must be able to fail.
    const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-rules-'));
    try {
      const broken = readFileSync(join(PROMETHEUS_DIR, RULES), 'utf8').replace(
        'max by (network) (kontena_ipam_pool_utilisation_ratio) > 0.9',
        'max by (network) (kontena_ipam_pool_utilisation_ratio) > 2',
      );
      writeFileSync(join(dir, RULES), broken);
      writeFileSync(join(dir, RULE_TESTS), readFileSync(join(PROMETHEUS_DIR, RULE_TESTS), 'utf8'));
      const run = promtool(['test', 'rules', RULE_TESTS], { cwd: dir });
      expect(run.status).toBe(1);
      expect(run.output).toContain('alertname: KontenaIpamPoolNearlyFull');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Grafana dashboard (docs/grafana)', () => {
  it('is an importable dashboard: title, uid, unique panel ids, a grid without overlaps', () => {
    expect(dashboard.title).toBe('kontena-ipam');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x >= 0 && g.w >= 1 && g.x + g.w <= 24 && g.h >= 1 && g.y >= 0, title).toBe(true);
    }
    const overlaps = dashboard.panels.flatMap((a, i) =>
      dashboard.panels
        .slice(i + 1)
        .filter(
          (b) =>
            a.gridPos.x < b.gridPos.x + b.gridPos.w &&
            b.gridPos.x < a.gridPos.x + a.gridPos.w &&
            a.gridPos.y < b.gridPos.y + b.gridPos.h &&
            b.gridPos.y < a.gridPos.y + a.gridPos.h,
        )
        .map((b) => `${a.title} / ${b.title}`),
    );
    expect(overlaps).toEqual([]);
  });

  it('every panel queries Prometheus through the datasource variable, with its own refIds', () => {
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template.
    const ref = { type: 'prometheus', uid: '${datasource}' };
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual(ref);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual(ref);
    }
    // Variables used in queries are the dashboard's own or Grafana's built-in ones.
    const used = queries.flatMap(({ target }) =>
      [...target.expr.matchAll(/\$(\w+)/g)].map((m) => m[1]),
    );
    const builtIn = ['__rate_interval', '__interval', '__range'];
    expect(
      used.filter((v) => !variables.has(v as string) && !builtIn.includes(v as string)),
    ).toEqual([]);
  });

  it('every query is PromQL that promtool accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-dashboard-'));
    try {
      // Each query as a recording rule, Grafana's variables replaced the way Grafana would.
      const recorded = queries.map(({ panel, target }) => ({
        record: `dashboard:panel_${panel.id}_${target.refId}`,
        expr: target.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'),
      }));
      writeFileSync(
        join(dir, 'dashboard.rules.yml'),
        toYaml({ groups: [{ name: 'dashboard', rules: recorded }] }),
      );
      const run = promtool(['check', 'rules', 'dashboard.rules.yml'], { cwd: dir });
      expect(run.output).toContain(`SUCCESS: ${recorded.length} rules found`);
      expect(run.status).toBe(0);
      // And promtool does refuse a broken query, so the check above can fail.
      writeFileSync(
        join(dir, 'broken.rules.yml'),
        toYaml({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum by (a (b)' }] }] }),
      );
      expect(promtool(['check', 'rules', 'broken.rules.yml'], { cwd: dir }).status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a live /metrics of the built plugin against a real etcd', () => {
  let etcd: EtcdCluster & { endpoint: string };
  let plugin: PluginProcess | undefined;
  let dir: string;
  let exposition: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-monitoring-'));
    const socket = join(dir, 'kontena-ipam.sock');
    etcd = await startEtcd();
    const port = await freePort();
    plugin = await startPlugin({
      socket,
      env: {
        ETCD_ENDPOINT: etcd.endpoint,
        NODE_ID: 'node-a',
        KONTENA_IPAM_ETCD_TIMEOUT: '2000',
        KONTENA_IPAM_METRICS: `127.0.0.1:${port}`,
        LOG_LEVEL: 'warn',
      },
    });
    // Some traffic, so that every labelled series exists: a pool, addresses, a refused request.
    const pool = await callPlugin(socket, 'IpamDriver.RequestPool', {
      AddressSpace: 'local',
      Pool: '10.81.0.0/24',
      SubPool: '',
      Options: { network: 'kontena' },
      V6: false,
    });
    expect(pool.status).toBe(200);
    for (const PoolID of ['kontena', 'kontena', 'nope']) {
      await callPlugin(socket, 'IpamDriver.RequestAddress', { PoolID, Address: '', Options: {} });
    }
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    exposition = await res.text();
  });
  afterAll(async () => {
    await plugin?.stop('SIGKILL');
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("promtool check metrics finds nothing wrong with the plugin's own metrics", () => {
    expect(exposition).toContain('kontena_ipam_pool_addresses_used{network="kontena"} 3');
    const run = promtool(['check', 'metrics'], { input: exposition });
    // 0: clean; 3: lint findings only (1 would be an exposition promtool cannot parse).
    expect([0, 3]).toContain(run.status);
    const findings = run.output.split('\n').filter((line) => line.trim() !== '');
    // prom-client's default Node metrics have findings of their own (gauges named *_total).
    expect(findings.filter((line) => !/^nodejs_\w+ /.test(line))).toEqual([]);
  });

  it('promtool check metrics does report a finding in a kontena_ipam metric (the check can fail)', () => {
    const run = promtool(['check', 'metrics'], {
      input:
        '# HELP kontena_ipam_x_total x\n# TYPE kontena_ipam_x_total gauge\nkontena_ipam_x_total 1\n',
    });
    expect(run.status).toBe(3);
    expect(run.output).toContain(
      'kontena_ipam_x_total non-counter metrics should not have "_total"',
    );
  });

  it('the rules, the dashboard and the docs name only metrics the plugin exports', () => {
    const exported = exportedNames(exposition);
    const named = [
      ...rules.map((r) => ({ where: `rule ${r.alert}`, text: r.expr })),
      ...queries.map(({ panel, target }) => ({ where: `panel ${panel.title}`, text: target.expr })),
      ...['README.md', ...docsPages()].map((path) => ({
        where: path,
        text: readFileSync(join(ROOT, path), 'utf8'),
      })),
    ].flatMap(({ where, text }) => metricsIn(text).map((name) => `${where}: ${name}`));
    expect(named.length).toBeGreaterThan(30);
    expect(named.filter((entry) => !exported.has(entry.split(': ')[1] as string))).toEqual([]);
  });

  it('the dashboard shows every kontena_ipam metric the plugin exports', () => {
    const shown = queries.map(({ target }) => target.expr).join('\n');
    const own = [...exposition.matchAll(/^# TYPE (kontena_ipam_\w+) /gm)].map((m) => m[1]);
    expect(own.length).toBe(11);
    expect(own.filter((name) => !shown.includes(name as string))).toEqual([]);
  });
});
