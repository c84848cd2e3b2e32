/**
 * Throw-away certificates for TLS tests: a CA, an etcd server certificate for 127.0.0.1 and a
 * client certificate, all made by openssl in a folder the caller removes. EC P-256 keys (fast
 * to make), valid for one day.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** TestCerts are the PEM file paths of one test PKI. */
export interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `openssl ${args.join(' ')}: ${(result.stderr || String(result.error)).trim()} (apt-get install -y openssl)`,
    );
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** signed makes `name`.key and `name`.pem for subject CN=`cn`, signed by the CA, with `ext` extensions. */
function signed(dir: string, name: string, cn: string, ext: string): void {
  openssl(
    ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ],
    dir,
  );
}

/** makeTestCerts writes a CA, a server certificate for IP 127.0.0.1 and a client certificate (CN=`clientName`) into `dir`. */
export function makeTestCerts(dir: string, clientName = 'kontena-ipam'): TestCerts {
  openssl(
    [
      'req',
      '-x509',
      ...KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=kontena-ipam-test-ca',
    ],
    dir,
  );
  signed(
    dir,
    'server',
    'etcd',
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  signed(dir, 'client', clientName, 'extendedKeyUsage=clientAuth\n');
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}
