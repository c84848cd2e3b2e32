import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runWithoutEtcd, useOperatorEtcd, withAges } from './support/operator.js';

const etcd = useOperatorEtcd();
let env: Record<string, string>;

beforeAll(async () => {
  ({ env } = await etcd.demo());
});

describe('kontena-ipam show', () => {
  it("lists a pool's addresses with owner, kind, MAC / endpoint and age", async () => {
    const result = await runCommand(['show', 'kontena'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(withAges(result.stdout)).toBe(
      [
        'kontena: subnet 10.81.0.0/16, ip-range 10.81.128.0/17, gateway 10.81.0.1; 4 addresses',
        'ADDRESS       NODE    KIND      MAC / ENDPOINT           AGE',
        '10.81.0.1     node-a  gateway   -                         0s',
        '10.81.0.250   node-b  aux       -                         0s',
        '10.81.128.10  node-a  endpoint  02:42:0a:51:80:0a web-1   0s',
        '10.81.128.11  node-b  endpoint  02:42:0a:51:80:0b web-2   0s',
        '',
      ].join('\n'),
    );
  });

  it('--node lists only that node’s addresses', async () => {
    const result = await runCommand(['show', 'kontena', '--node', 'node-b'], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'kontena: subnet 10.81.0.0/16, ip-range 10.81.128.0/17, gateway 10.81.0.1; 2 addresses of node node-b',
    );
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['10.81.0.250', '10.81.128.11']);
  });

  it('--json gives each address with its attributes and age in seconds', async () => {
    const result = await runCommand(['show', 'kontena', '--node', 'node-a', '--json'], env);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body).toEqual({
      network: 'kontena',
      subnet: '10.81.0.0/16',
      ipRange: '10.81.128.0/17',
      gateway: '10.81.0.1',
      node: 'node-a',
      addresses: [
        {
          address: '10.81.0.1',
          node: 'node-a',
          kind: 'gateway',
          mac: null,
          endpoint: null,
          at: expect.any(String),
          ageSeconds: expect.any(Number),
        },
        {
          address: '10.81.128.10',
          node: 'node-a',
          kind: 'endpoint',
          mac: '02:42:0a:51:80:0a',
          endpoint: 'web-1',
          at: expect.any(String),
          ageSeconds: expect.any(Number),
        },
      ],
    });
    expect(body.addresses[0].ageSeconds).toBeGreaterThanOrEqual(0);
  });

  it('a node with nothing in the pool gets the header only', async () => {
    const result = await runCommand(['show', 'small', '--node', 'node-z'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'small: subnet 10.82.0.0/29, gateway 10.82.0.1; 0 addresses of node node-z\n',
    );
  });

  it('an unknown network exits 1; a bad name or no name exits 2', async () => {
    const missing = await runCommand(['show', 'nope'], env);
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: 'kontena-ipam show: no pool named nope\n',
    });
    const bad = await runCommand(['show', 'bad/name'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('network name "bad/name" must start with a letter or digit');
    const none = await runCommand(['show'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      'kontena-ipam show: expected one NETWORK; see kontena-ipam show --help\n',
    );
  });

  it('exits 1 naming the endpoint when etcd is unreachable', async () => {
    const { endpoint, ...result } = await runWithoutEtcd(['show', 'kontena']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^kontena-ipam show: etcd unavailable at ${endpoint}: `),
    );
  });
});
