/**
 * Replays every request a real Docker 20.10 daemon sent (the captures in
 * test/fixtures/docker-ipam-traffic) over a real unix socket, with the captured
 * headers (no Content-Type) and the captured bytes (trailing newline, empty bodies,
 * `Options: null`), against a real store on a real etcd. Asserts our replies and etcd.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultGateway, formatAddressWithPrefix, parseSubnet } from '@kontena-ipam/cidr';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { holdsIn } from '@kontena-ipam/testing/store-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLUGIN_CONTENT_TYPE, ROUTES } from '../src/protocol.js';
import { CAPABILITIES } from '../src/routes.js';
import { send } from './support/client.js';
import { startPlugin, storeSetup, tempDir } from './support/plugin.js';

interface Captured {
  url: string;
  headers: Record<string, string>;
  rawBody: string;
  reply: Record<string, unknown>;
}

const FIXTURES = join(import.meta.dirname, 'fixtures', 'docker-ipam-traffic');
const captures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.requests.jsonl'))
  .sort()
  .map((file) => ({
    name: file.replace('.requests.jsonl', ''),
    lines: readFileSync(join(FIXTURES, file), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Captured),
  }));

/** replay sends one captured request: same path, same headers (Content-Length recomputed), same bytes. */
function replay(socketPath: string, captured: Captured, rawBody = captured.rawBody) {
  const headers = { ...captured.headers };
  delete headers['content-length'];
  return send(socketPath, captured.url, rawBody, { headers });
}

let etcd: EtcdCluster & { endpoint: string };
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir();
});

afterAll(async () => {
  await etcd?.stop();
  dir?.remove();
});

it('has the captures', () => {
  expect(captures.map((c) => c.name)).toEqual([
    'ctjson',
    'ctnone',
    'erripam',
    'fakeipam',
    'fakeipam2',
  ]);
});

describe('as Docker sent them (no --ipam-opt network=NAME was given)', () => {
  for (const capture of captures) {
    it(`${capture.name}: handshakes answered, pools refused with a clear Err, nothing written`, async () => {
      const setup = storeSetup(etcd.endpoint, { supernet: '10.99.0.0/16' });
      const plugin = await startPlugin(dir.path, setup.store);
      try {
        const before = await setup.revision();
        for (const captured of capture.lines) {
          const reply = await replay(plugin.socketPath, captured);
          expect(reply.headers['content-type']).toBe(PLUGIN_CONTENT_TYPE);
          switch (captured.url) {
            case ROUTES.activate:
              expect([reply.status, reply.json]).toEqual([200, { Implements: ['IpamDriver'] }]);
              break;
            case ROUTES.capabilities:
              expect([reply.status, reply.json]).toEqual([200, CAPABILITIES]);
              break;
            case ROUTES.addressSpaces:
              expect([reply.status, reply.json]).toEqual([200, captured.reply]);
              break;
            case ROUTES.requestPool:
              expect(reply.status).toBe(400);
              expect((reply.json as { Err: string }).Err).toContain('--ipam-opt network=NAME');
              break;
            case ROUTES.requestAddress:
              expect(reply.status).toBe(404);
              expect((reply.json as { Err: string }).Err).toContain(
                JSON.parse(captured.rawBody).PoolID,
              );
              break;
            default:
              // Releases of pools that do not exist: idempotent, {}.
              expect([reply.status, reply.json]).toEqual([200, {}]);
          }
        }
        expect(await setup.revision()).toBe(before);
        expect(await setup.keys()).toEqual({});
      } finally {
        await plugin.close();
        await setup.close();
      }
    });
  }
});

/**
 * The same sessions as they go with our plugin: the only edit to each RequestPool body is the
 * `--ipam-opt network=NAME` the captures lack (NAME = the stub's PoolID, so the later bodies
 * match byte for byte). `rewrite` maps the few places where the stub chose differently from
 * the store (explained per file); it applies to request bodies and expected replies alike.
 */
interface Session {
  rewrite?: (text: string) => string;
  /** Index of a RequestPool line to send before the rest: the network create the capture began after. */
  createFirst?: number;
  final: (keys: Record<string, unknown>) => void;
}

const onlyState = (keys: Record<string, unknown>) =>
  Object.keys(keys).filter((k) => !k.startsWith('guard/'));

const sessions: Record<string, Session> = {
  ctjson: { final: (keys) => expect(onlyState(keys)).toEqual([]) },
  ctnone: { final: (keys) => expect(onlyState(keys)).toEqual([]) },
  // The stub failed this request on purpose; ours succeeds and the capture ends with the pool held.
  erripam: {
    final: (keys) =>
      expect({
        ...(keys['pools/erripam'] as object),
        holds: holdsIn(keys, 'erripam'),
      }).toMatchObject({
        subnet: '10.99.0.0/24',
        dynamic: true,
        holds: { 'node-a': 1 },
      }),
  },
  // The stub handed its second dynamic pool 10.99.1.0/24; the store reuses the freed 10.99.0.0/24.
  fakeipam: {
    rewrite: (text) => text.replaceAll('10.99.1.', '10.99.0.'),
    final: (keys) => expect(onlyState(keys)).toEqual([]),
  },
  // One network, its daemon restarted three times with RequiresRequestReplay: each restart
  // replays RequestPool (stub PoolIDs p5..p7 = our p4) and every replay adds a hold that no
  // ReleasePool takes back: the pool outlives `docker network rm`. Hence RequiresRequestReplay false.
  fakeipam2: {
    rewrite: (text) => text.replace(/"PoolID":"p[4-7]"/g, '"PoolID":"p4"'),
    createFirst: 7,
    final: (keys) => {
      expect(keys['pools/p4']).toMatchObject({ subnet: '10.93.0.0/24' });
      expect(holdsIn(keys, 'p4')).toEqual({ 'node-a': 3 });
      expect(Object.keys(keys).filter((k) => k.startsWith('addresses/'))).toEqual([
        'addresses/p4/10.93.0.1',
      ]);
    },
  },
};

function withNetwork(rawBody: string, name: string): string {
  expect(rawBody).toContain('"Options":{}');
  return rawBody.replace('"Options":{}', `"Options":{"network":"${name}"}`);
}

describe('the same sessions with --ipam-opt network=NAME', () => {
  for (const capture of captures) {
    const session = sessions[capture.name] as Session;
    it(`${capture.name}: every reply and the final etcd state`, async () => {
      const setup = storeSetup(etcd.endpoint, { supernet: '10.99.0.0/16', subnetLength: 24 });
      const plugin = await startPlugin(dir.path, setup.store);
      const rewrite = session.rewrite ?? ((text: string) => text);
      try {
        const script =
          session.createFirst === undefined
            ? capture.lines
            : [capture.lines[session.createFirst] as Captured, ...capture.lines];
        // Docker sends back the address we gave it: once ours differs from the stub's, later bodies carry ours.
        const learned = new Map<string, string>();
        const relearn = (text: string) => {
          let out = rewrite(text);
          for (const [stub, ours] of learned)
            out = out.replaceAll(`"Address":"${stub}"`, `"Address":"${ours}"`);
          return out;
        };
        for (const [index, captured] of script.entries()) {
          const expected = JSON.parse(rewrite(JSON.stringify(captured.reply))) as Record<
            string,
            unknown
          >;
          let body = relearn(captured.rawBody);
          const request =
            captured.rawBody === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
          if (captured.url === ROUTES.requestPool) {
            const name = (expected.PoolID as string | undefined) ?? capture.name;
            body = withNetwork(body, name);
            const pool = (expected.Pool as string | undefined) ?? '10.99.0.0/24';
            const subnet = parseSubnet(pool);
            expected.PoolID = name;
            expected.Pool = pool;
            expected.Data = {
              'com.docker.network.gateway': formatAddressWithPrefix(
                defaultGateway(subnet),
                subnet.prefix,
              ),
            };
            delete expected.Err;
          } else if (captured.url === ROUTES.capabilities) {
            Object.assign(expected, CAPABILITIES);
          }
          const reply = await replay(plugin.socketPath, captured, body);
          const options = (request.Options ?? {}) as Record<string, string>;
          if (
            captured.url === ROUTES.requestAddress &&
            request.Address === '' &&
            !options.RequestAddressType
          ) {
            // Which free address is the store's choice: any host address of the pool but the gateway.
            const ours = (reply.json as { Address?: string } | undefined)?.Address ?? '';
            const stub = expected.Address as string;
            expect(ours.split('/')[1]).toBe(stub.split('/')[1]);
            expect(ours).not.toMatch(/\.1\/\d+$/); // the gateway (first host) of these pools
            learned.set(stub.split('/')[0] as string, ours.split('/')[0] as string);
            expected.Address = ours;
          }
          expect({ index, url: captured.url, status: reply.status, json: reply.json }).toEqual({
            index,
            url: captured.url,
            status: 200,
            json: expected,
          });
        }
        session.final(await setup.keys());
      } finally {
        await plugin.close();
        await setup.close();
      }
    });
  }

  it('fakeipam2: the MAC Docker sends with a container request is recorded', async () => {
    const setup = storeSetup(etcd.endpoint, { supernet: '10.99.0.0/16' });
    const plugin = await startPlugin(dir.path, setup.store);
    try {
      const lines = captures.find((c) => c.name === 'fakeipam2')?.lines ?? [];
      const create = lines[7] as Captured;
      expect(
        (await replay(plugin.socketPath, create, withNetwork(create.rawBody, 'p4'))).status,
      ).toBe(200);
      const given: string[] = [];
      for (const captured of lines.slice(0, 2)) {
        const reply = await replay(plugin.socketPath, captured);
        expect(reply.status).toBe(200);
        given.push((reply.json as { Address: string }).Address.split('/')[0] as string);
      }
      const keys = await setup.keys();
      expect(keys[`addresses/p4/${given[0]}`]).toMatchObject({
        node: 'node-a',
        kind: 'endpoint',
        attrs: { mac: '02:42:03:f8:71:e5' },
      });
      expect(keys[`addresses/p4/${given[1]}`]).toMatchObject({
        node: 'node-a',
        kind: 'endpoint',
        attrs: { mac: '02:42:aa:bb:cc:dd' },
      });
    } finally {
      await plugin.close();
      await setup.close();
    }
  });
});
