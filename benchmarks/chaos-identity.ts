/**
 * The fault suite's identity faults: not etcd breaking, but two instances claiming one NODE_ID
 * (a cloned VM, a second process) and an instance that lost its registration while frozen. The
 * fleet's loops run on; what must hold is the same as for every fault: no address granted
 * twice, every acknowledged address in etcd under its node.
 */
import { dirname, join } from 'node:path';
import type { EtcdCluster } from '@kontena-ipam/testing/etcd';
import {
  callPlugin,
  type PluginProcess,
  startPlugin,
} from '../packages/app/test/support/plugin-process.js';
import type { Fault, FaultContext } from './chaos-faults.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The registration TTL the fleet's plugins run with (the app's default). */
const TTL_MS = 10_000;

/** twinOf starts another `kontena-ipam` with plugin `i`'s NODE_ID on its own socket. */
function twinOf(ctx: FaultContext, i: number, etcd: EtcdCluster): Promise<PluginProcess> {
  const original = ctx.fleet.plugins[i] as PluginProcess;
  return startPlugin({
    socket: join(dirname(original.socket), `twin-${Date.now()}.sock`),
    env: {
      NODE_ID: ctx.fleet.nodes[i] as string,
      ETCD_ENDPOINT: etcd.endpoints.join(','),
      KONTENA_IPAM_LOCAL_ETCD: 'off',
      LOG_LEVEL: 'warn',
    },
  });
}

/** registrationOf is what a plugin's GET /health says of its registration. */
async function registrationOf(socket: string): Promise<string> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/health', method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        text += c;
      });
      res.on('end', () =>
        resolve(String((JSON.parse(text) as { Registration?: string }).Registration)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

export const identityFaults: readonly Fault[] = [
  {
    id: 'duplicate-identity',
    title:
      'a second kontena-ipam started with a live NODE_ID (a cloned VM) and sent 20 RequestAddress, then killed',
    smoke: true,
    // The fleet's own calls must not notice: the goal "no Docker call fails" applies.
    quorum: true,
    async run(ctx) {
      ctx.mark('twin starts');
      const twin = await twinOf(ctx, 0, ctx.etcd);
      try {
        await until(
          'the twin waits',
          async () => (await registrationOf(twin.socket)) === 'waiting',
          10_000,
        );
        let granted = 0;
        for (let i = 0; i < 20; i++) {
          const reply = await callPlugin(twin.socket, 'IpamDriver.RequestAddress', {
            PoolID: 'chaos',
            Address: '',
            Options: {},
          });
          if (reply.status === 200) granted++;
        }
        ctx.mark(`twin refused ${20 - granted} of 20`);
        // Any grant by the twin is the very bug this fault is about: fail the run.
        if (granted > 0)
          throw new Error(`the twin of ${ctx.fleet.nodes[0]} was granted ${granted} addresses`);
      } finally {
        await twin.stop('SIGKILL');
        ctx.mark('twin killed');
      }
    },
  },
  {
    id: 'lost-lease',
    title:
      'a plugin frozen (SIGSTOP) past its 10 s registration while a new instance of its NODE_ID takes over; thawed; the new one stopped',
    smoke: false,
    // The frozen instance's calls fail by design (it no longer holds its NODE_ID).
    quorum: false,
    async run(ctx) {
      ctx.mark('freeze plugin');
      ctx.fleet.pause(0);
      await sleep(TTL_MS + 2000);
      const successor = await twinOf(ctx, 0, ctx.etcd);
      try {
        await until(
          'the successor serves',
          async () => (await registrationOf(successor.socket)) === 'serving',
          TTL_MS * 2,
        );
        ctx.mark('successor serves');
        ctx.fleet.resume(0);
        ctx.mark('thaw plugin');
        await until(
          'the thawed one waits',
          async () =>
            (await registrationOf((ctx.fleet.plugins[0] as PluginProcess).socket)) === 'waiting',
          10_000,
        );
        await sleep(2000);
      } finally {
        await successor.stop('SIGTERM');
        ctx.mark('successor stopped');
      }
      await until(
        'the first one serves again',
        async () =>
          (await registrationOf((ctx.fleet.plugins[0] as PluginProcess).socket)) === 'serving',
        10_000,
      );
      ctx.mark('first serves again');
    },
  },
];
