/**
 * Turns on authentication in a test's real etcd (user root with the root role) through its
 * JSON gateway, run by `node` so that it also works inside a network namespace (prefix).
 */
import { spawnSync } from 'node:child_process';

// The four calls etcdctl makes for `role add root`, `user add root`, `user grant-role`, `auth enable`.
const SCRIPT = `
const [base, password] = process.argv.slice(1);
async function post(path, body) {
  const res = await fetch(base + path, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status + ' ' + (await res.text()));
}
// The etcd may still be starting: wait for it to accept connections (up to 20 s).
for (let i = 0; ; i++) {
  try {
    await fetch(base + '/health');
    break;
  } catch (error) {
    if (i >= 200) throw error;
    await new Promise((r) => setTimeout(r, 100));
  }
}
await post('/v3/auth/role/add', { name: 'root' });
await post('/v3/auth/user/add', { name: 'root', password });
await post('/v3/auth/user/grant', { user: 'root', role: 'root' });
await post('/v3/auth/enable', {});
`;

/** enableEtcdAuth makes `root` / `password` the only way into the etcd at `endpoint`. */
export function enableEtcdAuth(
  endpoint: string,
  password: string,
  prefix: readonly string[] = [],
): void {
  const argv = [
    ...prefix,
    process.execPath,
    '--input-type=module',
    '-e',
    SCRIPT,
    endpoint,
    password,
  ];
  const run = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`enabling etcd auth failed: ${run.stderr}${run.stdout}`);
}
