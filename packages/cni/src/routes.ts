/**
 * The CNI routes served on the plugin's socket (wire.ts says the contract), as plugin Routes:
 * the same body limit, per-call deadline, log line and metrics as Docker's calls. Each parses
 * the call (config.ts), runs its verb (verbs.ts) and answers the CNI result, or a CNI error
 * object (errors.ts) with the plugin's status for the error's kind.
 */
import type { Route, RouteContext } from '@kontena-ipam/plugin';
import { parseCniCall } from './config.js';
import { CniError, cniErrorOf } from './errors.js';
import { add, type CniBackend, check, del, gc, type VerbContext } from './verbs.js';
import { CNI_CODES, CNI_ROUTES, type CniVerb } from './wire.js';

/** CniRoutesOptions: the store the CNI verbs call. */
export interface CniRoutesOptions {
  backend: CniBackend;
}

function verbContext(
  options: CniRoutesOptions,
  ctx: RouteContext,
  budget: VerbContext['budget'],
): VerbContext {
  return {
    backend: options.backend,
    node: ctx.node,
    budget,
    noteAddress: (address) => {
      ctx.fields.address = ctx.fields.address ? `${ctx.fields.address},${address}` : address;
    },
  };
}

function cniRoute(
  verb: CniVerb,
  run: (input: unknown, ctx: RouteContext) => Promise<object>,
): Route {
  return {
    path: CNI_ROUTES[verb],
    handle: run,
    errorBody: (error, reply) => {
      const body = cniErrorOf(error, reply.err);
      // STATUS answers "not available" for anything that keeps it from serving an ADD.
      if (verb === 'STATUS' && body.code === CNI_CODES.tryAgainLater) {
        return { ...body, code: CNI_CODES.notAvailable };
      }
      return body;
    },
  };
}

/** cniRoutes are the five CNI routes for PluginServerOptions.extraRoutes. */
export function cniRoutes(options: CniRoutesOptions): Route[] {
  const verb = <T>(
    name: CniVerb,
    run: (req: ReturnType<typeof parseCniCall>, v: VerbContext) => Promise<T>,
    answer: (t: T, ctx: RouteContext) => object,
  ) =>
    cniRoute(name, async (input, ctx) => {
      const req = parseCniCall(name, input);
      ctx.fields.pool = req.network;
      const out = await ctx.call((budget) => run(req, verbContext(options, ctx, budget)));
      return answer(out, ctx);
    });
  return [
    verb('ADD', add, (result) => result),
    verb('DEL', del, (result, ctx) => {
      ctx.fields.result = result === 'released' ? 'released' : 'nothing to release';
      return {};
    }),
    verb('CHECK', check, () => ({})),
    verb('GC', gc, (freed, ctx) => {
      ctx.fields.result = `${freed} freed`;
      return {};
    }),
    cniRoute('STATUS', async (input, ctx) => {
      // The config is parsed (and must name its network) like the others', but STATUS only pings.
      parseCniCall('STATUS', input);
      try {
        await ctx.call(() => options.backend.ping());
      } catch (error) {
        throw new CniError(
          CNI_CODES.notAvailable,
          `kontena-ipam cannot reach etcd: ${(error as Error).message}`,
        );
      }
      return {};
    }),
  ];
}
