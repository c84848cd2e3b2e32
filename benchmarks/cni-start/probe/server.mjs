import { rmSync } from 'node:fs';
import { createServer } from 'node:http';

const path = process.argv[2];
rmSync(path, { force: true });
// The probe's daemon: CNI env in x-cni-* headers, the network config as the body; the reply's
// body is what the plugin prints, its status says the exit code (200: 0).
createServer((req, res) => {
  let body = '';
  req
    .setEncoding('utf8')
    .on('data', (c) => (body += c))
    .on('end', () => {
      const ok =
        (req.headers['x-cni-command'] === 'ADD' || req.url === '/Cni.Add') &&
        body.includes('"ipam"');
      const reply = ok
        ? JSON.stringify({
            cniVersion: '1.0.0',
            ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1' }],
            routes: [],
            dns: {},
          })
        : JSON.stringify({ cniVersion: '1.0.0', code: 4, msg: 'bad' });
      res.writeHead(ok ? 200 : 400, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(reply),
      });
      res.end(reply);
    });
}).listen(path, () => console.log('listening'));
