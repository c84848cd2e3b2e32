import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EtcdCluster, startEtcd } from '@kontena-ipam/testing/etcd';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { etcdClientOptions } from '../src/etcd-client.js';
import { openStore } from '../src/open-store.js';

describe('etcdClientOptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the TLS files, passes auth, puts a deadline on unary calls only and require-leader on all', () => {
    for (const [name, text] of [
      ['ca.pem', 'CA'],
      ['cert.pem', 'CERT'],
      ['key.pem', 'KEY'],
    ]) {
      writeFileSync(join(dir, name as string), text as string);
    }
    const config = loadConfig({
      ETCD_ENDPOINT: 'https://etcd-1:2379,https://etcd-2:2379',
      ETCD_CA_FILE: join(dir, 'ca.pem'),
      ETCD_CERT_FILE: join(dir, 'cert.pem'),
      ETCD_KEY_FILE: join(dir, 'key.pem'),
      ETCD_USERNAME: 'ipam',
      ETCD_PASSWORD: 'secret',
      KONTENA_IPAM_ETCD_TIMEOUT: '1500',
    });
    const options = etcdClientOptions(config.etcd);
    expect(options.hosts).toEqual(['https://etcd-1:2379', 'https://etcd-2:2379']);
    expect(options.dialTimeout).toBe(1500);
    expect(options.credentials?.rootCertificate.toString()).toBe('CA');
    expect(options.credentials?.certChain?.toString()).toBe('CERT');
    expect(options.credentials?.privateKey?.toString()).toBe('KEY');
    expect(options.auth).toEqual({ username: 'ipam', password: 'secret' });
    const factory = options.defaultCallOptions as (ctx: { isStream: boolean }) => {
      deadline?: Date;
      interceptors?: unknown[];
    };
    const before = Date.now();
    const unary = factory({ isStream: false }).deadline?.getTime() ?? 0;
    expect(unary - before).toBeGreaterThanOrEqual(1500);
    expect(unary - before).toBeLessThan(60_000);
    // Streams (watches) get no deadline; every call, streams included, carries etcd's
    // require-leader metadata (an interceptor), so a member without a leader says so.
    expect(factory({ isStream: true }).deadline).toBeUndefined();
    expect(factory({ isStream: true }).interceptors).toHaveLength(1);
    expect(factory({ isStream: false }).interceptors).toHaveLength(1);
    // No per-host 5 s breaker of etcd3's default, and etcd3's own retry off: the store retries.
    expect(options.faultHandling?.host).toBeTypeOf('function');
    expect(options.faultHandling?.global).toBeDefined();
  });

  it('leaves credentials and auth out for plain http', () => {
    const options = etcdClientOptions(loadConfig({}).etcd);
    expect(options.hosts).toEqual(['http://localhost:2379']);
    expect(options.credentials).toBeUndefined();
    expect(options.auth).toBeUndefined();
  });
});

describe('ETCD_USERNAME / ETCD_PASSWORD against an etcd with auth enabled', () => {
  let etcd: EtcdCluster & { endpoint: string };

  beforeAll(async () => {
    etcd = await startEtcd();
    const admin = new Etcd3({ hosts: etcd.endpoint });
    try {
      await admin.user('root').create('rootpw');
      await admin.user('root').addRole('root');
      await admin.auth.authEnable({});
    } finally {
      admin.close();
    }
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  const logger = pino({ level: 'silent' });

  it('the store works with the credentials', async () => {
    const config = loadConfig({
      ETCD_ENDPOINT: etcd.endpoint,
      ETCD_USERNAME: 'root',
      ETCD_PASSWORD: 'rootpw',
      NODE_ID: 'node-a',
    });
    const opened = openStore(config, { logger });
    try {
      await opened.store.ping();
      expect(await opened.store.listPools()).toEqual([]);
    } finally {
      await opened.close();
    }
  });

  it("and fails without them, with etcd's reason", async () => {
    const config = loadConfig({ ETCD_ENDPOINT: etcd.endpoint, NODE_ID: 'node-a' });
    const opened = openStore(config, { logger });
    try {
      // The store reports it as etcd being unavailable, with etcd's own reason.
      await expect(opened.store.listPools()).rejects.toThrow(/user name is empty/);
    } finally {
      await opened.close();
    }
  });
});
