'use strict';
const v8 = require('node:v8');

function main() {
  const http = require('node:http');
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers = { 'content-type': 'application/json', 'content-length': body.length };
    for (const k of ['COMMAND', 'CONTAINERID', 'NETNS', 'IFNAME', 'ARGS', 'PATH']) {
      const v = process.env[`CNI_${k}`];
      if (v !== undefined) headers[`x-cni-${k.toLowerCase()}`] = v;
    }
    const req = http.request(
      {
        // biome-ignore lint/suspicious/noUndeclaredEnvVars: a probe run by hand, not through turbo
        socketPath: process.env.KONTENA_IPAM_SOCKET || '/run/docker/plugins/kontena-ipam.sock',
        path: '/cni',
        method: 'POST',
        headers,
      },
      (res) => {
        const out = [];
        res
          .on('data', (c) => out.push(c))
          .on('end', () => {
            process.stdout.write(Buffer.concat(out));
            process.stdout.write('\n');
            process.exitCode = res.statusCode === 200 ? 0 : 1;
          });
      },
    );
    req.on('error', (e) => {
      process.stdout.write(`{"code":11,"msg":${JSON.stringify(e.message)}}\n`);
      process.exitCode = 1;
    });
    req.end(body);
  });
}
v8.startupSnapshot.setDeserializeMainFunction(main);
