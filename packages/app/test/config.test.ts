import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSubnet } from '@kontena-ipam/cidr';
import { afterAll, describe, expect, it } from 'vitest';
import { type Config, ConfigError, loadConfig } from '../src/config.js';
import { AppError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kontena-ipam-config-'));
const ca = join(dir, 'ca.pem');
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
for (const file of [ca, cert, key]) writeFileSync(file, 'pem');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe('INVALID_CONFIG');
    expect(configError.kind).toBe('invalid');
    expect(configError).toBeInstanceOf(AppError);
    expect(configError.name).toBe('ConfigError');
    return configError.issues;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}

describe('loadConfig defaults (the seed README)', () => {
  const config: Config = loadConfig({});

  it('uses the seed defaults', () => {
    expect(config.logLevel).toBe('info');
    expect(config.nodeId).toBe(hostname());
    expect(config.etcd.endpoints).toEqual(['http://localhost:2379']);
    expect(config.etcd.explicit).toBe(false);
    expect(formatSubnet(config.supernet)).toBe('10.80.0.0/12');
    expect(config.subnetLength).toBe(24);
    expect(config.socketPath).toBe('/run/docker/plugins/kontena-ipam.sock');
  });

  it('uses the documented defaults for the additions', () => {
    expect(config.supernet6).toBeUndefined();
    expect(config.subnetLength6).toBe(64);
    expect(config.etcd.prefix).toBe('/kontena/ipam/');
    expect(config.etcd.timeoutMs).toBe(5000);
    expect(config.stateDir).toBe('/var/lib/kontena-ipam');
    // Cluster mode unless single-host mode is asked for: no default starts an etcd (issue 13).
    expect(config.localEtcd).toBeUndefined();
    expect(config.logFormat).toBeUndefined();
  });

  it("treats empty values as unset, like the seed README's `LOG_LEVEL=`", () => {
    expect(loadConfig({ LOG_LEVEL: '', ETCD_ENDPOINT: ' ' })).toEqual(config);
  });
});

describe('loadConfig good values', () => {
  it.each([
    ['0', 'debug'],
    ['1', 'info'],
    ['2', 'warn'],
    ['3', 'error'],
    ['4', 'fatal'],
    ['5', 'silent'],
    ['debug', 'debug'],
    ['INFO', 'info'],
    ['Warning', 'warn'],
    ['trace', 'trace'],
  ])('LOG_LEVEL=%s → %s', (text, level) => {
    expect(loadConfig({ LOG_LEVEL: text }).logLevel).toBe(level);
  });

  it('uses a comma-separated ETCD_ENDPOINT whole', () => {
    const config = loadConfig({
      ETCD_ENDPOINT: 'http://10.0.0.1:2379, http://10.0.0.2:2379/,http://[fd00::3]:2379',
    });
    expect(config.etcd.endpoints).toEqual([
      'http://10.0.0.1:2379',
      'http://10.0.0.2:2379',
      'http://[fd00::3]:2379',
    ]);
    expect(config.etcd.explicit).toBe(true);
  });

  it('takes TLS files and credentials with https endpoints', () => {
    const config = loadConfig({
      ETCD_ENDPOINT: 'https://etcd-1:2379,https://etcd-2:2379',
      ETCD_CA_FILE: ca,
      ETCD_CERT_FILE: cert,
      ETCD_KEY_FILE: key,
      ETCD_USERNAME: 'ipam',
      ETCD_PASSWORD: 's3cret',
    });
    expect(config.etcd).toMatchObject({
      caFile: ca,
      certFile: cert,
      keyFile: key,
      username: 'ipam',
      password: 's3cret',
    });
  });

  it('takes the rest', () => {
    const config = loadConfig({
      NODE_ID: 'node-a',
      KONTENA_IPAM_SUPERNET: '10.96.0.0/11',
      KONTENA_IPAM_SUBNET_LENGTH: '26',
      KONTENA_IPAM_SUPERNET6: 'fd00:80::/48',
      KONTENA_IPAM_SUBNET_LENGTH6: '64',
      KONTENA_IPAM_SOCKET: '/tmp/x/kontena-ipam.sock',
      KONTENA_IPAM_ETCD_TIMEOUT: '1500',
      KONTENA_IPAM_ETCD_PREFIX: '/test/ipam/',
      KONTENA_IPAM_STATE_DIR: '/srv/ipam',
      KONTENA_IPAM_LOCAL_ETCD: 'off',
      LOG_FORMAT: 'pretty',
    });
    expect(config.nodeId).toBe('node-a');
    expect(formatSubnet(config.supernet)).toBe('10.96.0.0/11');
    expect(config.subnetLength).toBe(26);
    expect(config.supernet6 && formatSubnet(config.supernet6)).toBe('fd00:80::/48');
    expect(config.subnetLength6).toBe(64);
    expect(config.socketPath).toBe('/tmp/x/kontena-ipam.sock');
    expect(config.etcd.timeoutMs).toBe(1500);
    expect(config.etcd.prefix).toBe('/test/ipam/');
    expect(config.stateDir).toBe('/srv/ipam');
    expect(config.localEtcd).toBeUndefined();
    expect(config.logFormat).toBe('pretty');
  });
});

describe('ETCD_PASSWORD_FILE and the managed plugin', () => {
  it('reads the password from the file once, trimming only the line ends after it', () => {
    const file = join(dir, 'password');
    writeFileSync(file, ' pa ss \r\n\n');
    const config = loadConfig({ ETCD_USERNAME: 'ipam', ETCD_PASSWORD_FILE: file });
    expect(config.etcd).toMatchObject({ username: 'ipam', password: ' pa ss ' });
  });

  it('wants ETCD_USERNAME with the file too', () => {
    const file = join(dir, 'password-alone');
    writeFileSync(file, 'pw\n');
    expect(issuesOf({ ETCD_PASSWORD_FILE: file })).toEqual([
      'ETCD_USERNAME=(unset): ETCD_USERNAME and ETCD_PASSWORD go together',
    ]);
  });

  it('KONTENA_IPAM_MANAGED_PLUGIN=1 takes an explicit NODE_ID and refuses the hostname fallback', () => {
    expect(loadConfig({ KONTENA_IPAM_MANAGED_PLUGIN: '1', NODE_ID: 'node-a' }).nodeId).toBe(
      'node-a',
    );
    expect(issuesOf({ KONTENA_IPAM_MANAGED_PLUGIN: '1', NODE_ID: ' ' })).toEqual([
      expect.stringMatching(
        /^NODE_ID=\(unset\): a managed plugin \(KONTENA_IPAM_MANAGED_PLUGIN=1\) needs an explicit NODE_ID/,
      ),
    ]);
    expect(issuesOf({ KONTENA_IPAM_MANAGED_PLUGIN: 'yes' })).toEqual([
      'KONTENA_IPAM_MANAGED_PLUGIN="yes": must be 0 or 1',
    ]);
  });
});

describe('ETCD_ENDPOINT never carries a password', () => {
  it('takes a unix socket (a local etcd reachable only through the file system)', () => {
    const config = loadConfig({ ETCD_ENDPOINT: 'unix:///run/kontena-ipam-etcd/client:0' });
    expect(config.etcd.endpoints).toEqual(['unix:///run/kontena-ipam-etcd/client:0']);
  });

  it.each([
    ['http://:secret@etcd:2379', 'http://***@etcd:2379'],
    ['http://user:secret@etcd', 'http://***@etcd'],
    ['https://user:secret@etcd:2379/', 'https://***@etcd:2379/'],
    ['http://user@etcd:2379', 'http://***@etcd:2379'],
    // A password with ',' or '/' in it: nothing before the last '@' is repeated.
    ['http://a:2379,http://u:sec,ret@b:2379', 'http://***@b:2379'],
    ['http://u:se/cret@b:2379', 'http://***@b:2379'],
    ['ftp://u:secret@b', 'ftp://***@b'],
  ])('refuses %s, naming it as %s and saying where the password goes', (value, shown) => {
    const issues = issuesOf({ ETCD_ENDPOINT: value });
    expect(issues).toEqual([
      `ETCD_ENDPOINT=${JSON.stringify(shown)}: must not hold a user name or password ('@'): they would show in logs and in the errors Docker prints; set ETCD_USERNAME and ETCD_PASSWORD_FILE (or ETCD_PASSWORD) instead`,
    ]);
    expect(issues.join('\n')).not.toContain('secret');
    expect(issues.join('\n')).not.toContain('sec,ret');
  });
});

describe('single-host mode is asked for, never assumed', () => {
  it('KONTENA_IPAM_LOCAL_ETCD=on: the embedded etcd on a unix socket in the state folder is the endpoint (no TCP port)', () => {
    const config = loadConfig({ KONTENA_IPAM_LOCAL_ETCD: 'on' });
    expect(config.localEtcd).toEqual({
      endpoint: 'unix:///var/lib/kontena-ipam/etcd-sockets/client:0',
      socketDir: '/var/lib/kontena-ipam/etcd-sockets',
    });
    expect(config.etcd.endpoints).toEqual(['unix:///var/lib/kontena-ipam/etcd-sockets/client:0']);
    expect(config.etcd.explicit).toBe(false);
    const moved = loadConfig({
      KONTENA_IPAM_LOCAL_ETCD: 'on',
      KONTENA_IPAM_STATE_DIR: '/srv/ipam',
    });
    expect(moved.etcd.endpoints).toEqual(['unix:///srv/ipam/etcd-sockets/client:0']);
  });

  it('refuses a state folder too long for the socket path', () => {
    const stateDir = `/${'s'.repeat(90)}`;
    expect(issuesOf({ KONTENA_IPAM_LOCAL_ETCD: 'on', KONTENA_IPAM_STATE_DIR: stateDir })).toEqual([
      `KONTENA_IPAM_STATE_DIR=${JSON.stringify(stateDir)}: too long for single-host mode, whose etcd socket ${stateDir}/etcd-sockets/client:0 must be at most 107 bytes`,
    ]);
  });

  it('refuses KONTENA_IPAM_LOCAL_ETCD=on together with ETCD_ENDPOINT', () => {
    expect(issuesOf({ KONTENA_IPAM_LOCAL_ETCD: 'on', ETCD_ENDPOINT: 'http://e:2379' })).toEqual([
      'KONTENA_IPAM_LOCAL_ETCD="on": single-host mode runs an embedded etcd for this host alone, so ETCD_ENDPOINT must be unset; to use the etcd at ETCD_ENDPOINT, set KONTENA_IPAM_LOCAL_ETCD=off',
    ]);
  });
});

describe('loadConfig bad values: one clear message each', () => {
  it.each([
    ['LOG_LEVEL', '9', 'must be 0-5 (0 = debug'],
    ['LOG_LEVEL', 'loud', 'must be 0-5 (0 = debug'],
    ['LOG_FORMAT', 'xml', 'must be json or pretty'],
    ['NODE_ID', '-leading-dash', 'must be 1-253 characters'],
    ['NODE_ID', 'has space', 'must be 1-253 characters'],
    ['NODE_ID', 'a'.repeat(254), 'must be 1-253 characters'],
    ['ETCD_ENDPOINT', 'localhost:2379', 'must use http:// or https://'],
    ['ETCD_ENDPOINT', 'not a url', 'is not a URL'],
    ['ETCD_ENDPOINT', 'ftp://etcd:2379', 'must use http:// or https://'],
    ['ETCD_ENDPOINT', 'http://etcd:2379/v3', 'must be scheme://host[:port]'],
    ['ETCD_ENDPOINT', 'http://a:2379,https://b:2379', 'must not mix http:// and https://'],
    ['ETCD_ENDPOINT', ',,', 'must list at least one'],
    ['ETCD_ENDPOINT', 'unix://relative:0', 'must be unix:///absolute/path'],
    ['ETCD_ENDPOINT', `unix:///${'s'.repeat(120)}`, 'a socket path must be at most 107 bytes'],
    ['ETCD_ENDPOINT', 'unix:///run/etcd.sock,http://b:2379', 'must not mix unix:// with http://'],
    ['KONTENA_IPAM_SUPERNET', '10.80.0.0', 'must be an IPv4 subnet in CIDR form'],
    ['KONTENA_IPAM_SUPERNET', '10.80.0.1/12', 'must be an IPv4 subnet in CIDR form'],
    ['KONTENA_IPAM_SUPERNET', '10.80.0.0/33', 'must be an IPv4 subnet in CIDR form'],
    ['KONTENA_IPAM_SUPERNET', 'fd00::/48', 'must be an IPv4 subnet'],
    ['KONTENA_IPAM_SUBNET_LENGTH', 'abc', 'must be a whole number from 1 to 30'],
    ['KONTENA_IPAM_SUBNET_LENGTH', '31', 'must be a whole number from 1 to 30'],
    ['KONTENA_IPAM_SUBNET_LENGTH', '24.5', 'must be a whole number from 1 to 30'],
    ['KONTENA_IPAM_SUBNET_LENGTH', '8', "at least the supernet's prefix length 12"],
    ['KONTENA_IPAM_SUPERNET6', '10.0.0.0/8', 'must be an IPv6 subnet'],
    ['KONTENA_IPAM_SUPERNET6', 'fd00::zz/48', 'must be an IPv6 subnet in CIDR form'],
    ['KONTENA_IPAM_SUBNET_LENGTH6', '64', 'needs KONTENA_IPAM_SUPERNET6'],
    ['KONTENA_IPAM_SOCKET', 'relative.sock', 'must be an absolute path'],
    ['KONTENA_IPAM_SOCKET', `/${'s'.repeat(120)}.sock`, 'must be at most 107 bytes'],
    ['KONTENA_IPAM_ETCD_TIMEOUT', '5s', 'must be a whole number from 100 to 600000 (milliseconds)'],
    ['KONTENA_IPAM_ETCD_TIMEOUT', '0', 'must be a whole number from 100 to 600000'],
    ['KONTENA_IPAM_ETCD_PREFIX', 'kontena', "must start and end with '/'"],
    ['KONTENA_IPAM_STATE_DIR', 'state', 'must be an absolute path'],
    ['KONTENA_IPAM_LOCAL_ETCD', 'yes', 'must be on (single-host mode'],
    ['KONTENA_IPAM_LOCAL_ETCD', 'auto', 'or off (the default: use ETCD_ENDPOINT)'],
  ])('%s=%s', (name, value, message) => {
    const issues = issuesOf({ [name]: value });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(`${name}=${JSON.stringify(value)}: `);
    expect(issues[0]).toContain(message);
  });

  it('checks the IPv6 subnet length against the IPv6 supernet', () => {
    const issues = issuesOf({
      KONTENA_IPAM_SUPERNET6: 'fd00::/64',
      KONTENA_IPAM_SUBNET_LENGTH6: '48',
    });
    expect(issues).toEqual([
      expect.stringContaining(
        'KONTENA_IPAM_SUBNET_LENGTH6="48": must be at least the IPv6 supernet\'s prefix length 64',
      ),
    ]);
  });

  it('names unreadable TLS files', () => {
    const issues = issuesOf({
      ETCD_ENDPOINT: 'https://etcd:2379',
      ETCD_CA_FILE: join(dir, 'missing.pem'),
    });
    expect(issues).toEqual([expect.stringMatching(/^ETCD_CA_FILE=".*missing.pem": cannot read /)]);
  });

  it('wants https:// endpoints for TLS files', () => {
    const issues = issuesOf({ ETCD_CA_FILE: ca });
    expect(issues).toEqual([expect.stringContaining('ETCD_CA_FILE=')]);
    expect(issues[0]).toContain('needs https:// endpoints in ETCD_ENDPOINT');
  });

  it('wants a client certificate and its key together, with a CA', () => {
    expect(
      issuesOf({ ETCD_ENDPOINT: 'https://e:2379', ETCD_CA_FILE: ca, ETCD_CERT_FILE: cert }),
    ).toEqual([expect.stringContaining('ETCD_CERT_FILE and ETCD_KEY_FILE go together')]);
    expect(
      issuesOf({ ETCD_ENDPOINT: 'https://e:2379', ETCD_CERT_FILE: cert, ETCD_KEY_FILE: key }),
    ).toEqual([expect.stringContaining('ETCD_CA_FILE=(unset): a client certificate needs the CA')]);
  });

  it('wants ETCD_USERNAME and ETCD_PASSWORD together', () => {
    expect(issuesOf({ ETCD_USERNAME: 'ipam' })).toEqual([
      'ETCD_PASSWORD=(unset): ETCD_USERNAME and ETCD_PASSWORD go together',
    ]);
    expect(issuesOf({ ETCD_PASSWORD: 'x' })).toEqual([
      'ETCD_USERNAME=(unset): ETCD_USERNAME and ETCD_PASSWORD go together',
    ]);
  });

  it('lists every bad value at once, in the order of the configuration table', () => {
    const issues = issuesOf({
      LOG_LEVEL: 'loud',
      KONTENA_IPAM_SUPERNET: 'nope',
      KONTENA_IPAM_SUBNET_LENGTH: 'x',
      KONTENA_IPAM_SOCKET: 'rel',
    });
    expect(issues.map((i) => i.split('=')[0])).toEqual([
      'LOG_LEVEL',
      'KONTENA_IPAM_SUPERNET',
      'KONTENA_IPAM_SUBNET_LENGTH',
      'KONTENA_IPAM_SOCKET',
    ]);
  });
});
