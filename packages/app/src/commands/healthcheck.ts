import { request } from 'node:http';
import { argsOrHelp, type Command, EXIT } from './command.js';
import { configOrReport } from './config-or-exit.js';

/** activate POSTs /Plugin.Activate over the unix socket, as Docker does first. */
function activate(socketPath: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/Plugin.Activate', method: 'POST', timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(body)
            : reject(new Error(`HTTP ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** healthcheckCommand exits 0 when the plugin answers Activate on its socket (the image's HEALTHCHECK). */
export const healthcheckCommand: Command = {
  summary: 'exit 0 if the plugin answers Plugin.Activate on KONTENA_IPAM_SOCKET',
  async run(io) {
    const usage =
      'Usage: kontena-ipam healthcheck\n\nExits 0 if the plugin socket answers Plugin.Activate.\n';
    if (!argsOrHelp(io, { usage })) return EXIT.ok;
    const config = configOrReport(io);
    if (!config) return EXIT.usage;
    try {
      const body = JSON.parse(await activate(config.socketPath, 3000)) as { Implements?: string[] };
      if (!body.Implements?.includes('IpamDriver'))
        throw new Error('reply does not implement IpamDriver');
      io.stdout.write(`ok: ${config.socketPath} answers Plugin.Activate\n`);
      return EXIT.ok;
    } catch (error) {
      io.stderr.write(
        `kontena-ipam healthcheck: ${config.socketPath}: ${(error as Error).message}\n`,
      );
      return EXIT.failure;
    }
  },
};
