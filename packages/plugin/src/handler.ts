/**
 * The bare HTTP handler: route lookup, body limit, JSON decoding, the per-call deadline, the
 * error table at the edge, one log line and one RequestEvent per request. Nothing here
 * knows sockets (server.ts) or pools (routes.ts, the store).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Budget } from '@kontena-ipam/store';
import type { HandlerOptions, RequestEvent } from './contract.js';
import { errorReply, PluginError } from './errors.js';
import { HEALTH_PATH, type HealthResponse, PLUGIN_CONTENT_TYPE } from './protocol.js';
import { decodeBody } from './requests.js';
import { type RequestFields, type RouteContext, routeTable } from './routes.js';

/** DEFAULT_CALL_TIMEOUT_MS bounds each RPC: Docker has no timeout of its own on plugin calls. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** STORE_MARGIN_MS is how much earlier than the call's deadline the store's budget ends. */
const STORE_MARGIN_MS = 250;
/** DEFAULT_BODY_LIMIT_BYTES: Docker's largest body is a few hundred bytes. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
/** UNKNOWN_ROUTE is the route label of every request to a path that is not an RPC. */
export const UNKNOWN_ROUTE = 'unknown';
// Bodies longer than this are logged shortened at debug level.
const MAX_LOGGED_BODY = 4096;

interface Outcome {
  status: number;
  body: object;
  code?: string;
  /** Close the connection after replying (the rest of an oversized body is not read). */
  close?: boolean;
}

/** Handler is createHandler's options resolved once: defaults filled in, routes built. */
interface Handler {
  options: HandlerOptions;
  routes: ReturnType<typeof routeTable>;
  timeoutMs: number;
  bodyLimit: number;
  endpoint: string;
  log: HandlerOptions['logger'];
}

/** createHandler gives the bare (req, res) handler for embedding / benchmarks. */
export function createHandler(options: HandlerOptions): RequestListener {
  const handler: Handler = {
    options,
    routes: routeTable(options.extraRoutes),
    timeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    endpoint: options.endpoint ?? 'the configured endpoint',
    log: options.logger,
  };
  return (req, res) => {
    serve(handler, req, res).catch((error: unknown) => {
      // serve() catches everything; this is the last net so nothing a client sends crashes the process.
      handler.log.error({ err: error }, 'request handling failed');
      if (!res.headersSent && !res.destroyed)
        send(res, { status: 500, body: { Err: 'internal error' } });
    });
  };
}

/** serve answers one request: dispatch, the error table for what it throws, then the log. */
async function serve(h: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  // Client-chosen paths must not become metric labels or flood logs: unknown ones share one.
  const route = h.routes.has(path) || path === HEALTH_PATH ? path : UNKNOWN_ROUTE;
  const fields: RequestFields = {};
  let outcome: Outcome;
  try {
    outcome = await dispatch(h, req, path, fields);
  } catch (error) {
    outcome = errorOutcome(h, error, route, fields);
  }
  send(res, outcome);
  const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
  logRequest(h, { route, path, fields, outcome, durationMs });
  notify(h, route, outcome, durationMs);
}

/** dispatch finds the route, checks method and body size, decodes the body and runs the route. */
async function dispatch(
  h: Handler,
  req: IncomingMessage,
  path: string,
  fields: RequestFields,
): Promise<Outcome> {
  if (path === HEALTH_PATH) {
    if (req.method !== 'GET') throw methodNotAllowed(req.method, path, 'GET');
    return await health(h);
  }
  const route = h.routes.get(path);
  if (!route) {
    throw new PluginError(
      'ROUTE_NOT_FOUND',
      `unknown route ${quotePath(path)}: this is a Docker IPAM plugin`,
    );
  }
  if (req.method !== 'POST') throw methodNotAllowed(req.method, path, 'POST');
  const bytes = await readBody(req, h.bodyLimit);
  if (h.log.isLevelEnabled('debug'))
    h.log.debug({ route: path, body: shorten(bytes.toString('utf8')) }, 'request body');
  const body = await route.handle(decodeBody(bytes), routeContext(h, path, fields));
  return { status: 200, body };
}

/** routeContext is what a route may use: the backend, this host, and store calls bounded in time. */
function routeContext(h: Handler, route: string, fields: RequestFields): RouteContext {
  const { options } = h;
  return {
    backend: options.backend,
    node: options.node,
    v6Dynamic: options.v6Dynamic ?? false,
    fields,
    call: (operation) =>
      withDeadline(
        () => operation(storeBudget(h)),
        h.timeoutMs,
        () => timeoutError(h),
        (late) => {
          // The store finished after Docker got a 503: say what it did, cleanup frees any leak.
          h.log.warn(
            { route, ...fields, node: options.node, late },
            'store answered after the deadline',
          );
        },
      ),
  };
}

// The store gets the call's deadline less a margin, so that its own error (which names what
// etcd did) reaches Docker before this handler's timer, and no store work outlives the reply.
function storeBudget(h: Handler): Budget {
  return Budget.within(Math.max(1, h.timeoutMs - STORE_MARGIN_MS));
}

function timeoutError(h: Handler): PluginError {
  return new PluginError(
    'TIMEOUT',
    `etcd unavailable at ${h.endpoint}: the store did not answer within ${h.timeoutMs} ms`,
  );
}

/** health answers GET /health: 200 when the store answers a ping in time, else 503 with why. */
async function health(h: Handler): Promise<Outcome> {
  const reg = h.options.registration;
  const node = reg
    ? { Node: h.options.node, Instance: reg.instance, Registration: reg.state.state }
    : {};
  try {
    await withDeadline(
      () => h.options.backend.ping(),
      h.timeoutMs,
      () => timeoutError(h),
    );
  } catch (error) {
    const reply = errorReply(error);
    const body: HealthResponse = {
      Status: 'unavailable',
      Etcd: 'unreachable',
      ...node,
      Err: reply.err,
    };
    return { status: 503, body, code: reply.code };
  }
  // Another live instance holds this NODE_ID (or ours lapsed): this one serves nothing.
  const problem = reg?.problem();
  if (problem) {
    const body: HealthResponse = {
      Status: 'unavailable',
      Etcd: 'reachable',
      ...node,
      Err: problem,
    };
    return { status: 503, body, code: 'NOT_REGISTERED' };
  }
  const body: HealthResponse = { Status: 'ok', Etcd: 'reachable', ...node };
  return { status: 200, body };
}

/** errorOutcome turns a thrown error into the reply (via the error table); logs unexpected ones. */
function errorOutcome(h: Handler, error: unknown, route: string, fields: RequestFields): Outcome {
  const reply = errorReply(error);
  if (reply.unexpected) h.log.error({ route, ...fields, err: error }, 'unexpected error');
  const own = h.routes.get(route)?.errorBody;
  return {
    status: reply.status,
    body: own ? own(error, reply) : { Err: reply.err },
    code: reply.code,
    close: reply.kind === 'too-large',
  };
}

/** logRequest writes the one line per request (info 2xx, warn 4xx, error 5xx), bodies at debug. */
function logRequest(
  h: Handler,
  request: {
    route: string;
    path: string;
    fields: RequestFields;
    outcome: Outcome;
    durationMs: number;
  },
): void {
  const { route, path, fields, outcome, durationMs } = request;
  const ok = outcome.status < 400;
  const line = {
    route,
    path: route === UNKNOWN_ROUTE ? quotePath(path) : undefined,
    pool: fields.pool,
    address: fields.address,
    subnet: fields.subnet,
    node: h.options.node,
    outcome: ok ? 'ok' : 'error',
    status: outcome.status,
    code: outcome.code,
    result: fields.result,
    err: ok ? undefined : errText(outcome.body),
    durationMs,
  };
  if (outcome.status >= 500) h.log.error(line, 'request');
  else if (outcome.status >= 400) h.log.warn(line, 'request');
  else h.log.info(line, 'request');
  if (h.log.isLevelEnabled('debug')) h.log.debug({ route, reply: outcome.body }, 'reply body');
}

/** errText is a failure's message: Docker's `Err`, or a route's own body's `msg` (CNI). */
function errText(body: object): string | undefined {
  const b = body as { Err?: unknown; msg?: unknown };
  if (typeof b.Err === 'string') return b.Err;
  return typeof b.msg === 'string' ? b.msg : undefined;
}

/** notify hands the RequestEvent to onRequest (metrics); its failure costs only a log line. */
function notify(h: Handler, route: string, outcome: Outcome, durationMs: number): void {
  const { onRequest } = h.options;
  if (!onRequest) return;
  const event: RequestEvent = {
    route,
    status: outcome.status,
    outcome: outcome.status < 400 ? 'ok' : 'error',
    durationMs,
  };
  if (outcome.code) event.code = outcome.code;
  try {
    onRequest(event);
  } catch (error) {
    // A metrics bug must not cost Docker its reply (already sent) nor the process.
    h.log.error({ err: error }, 'onRequest callback failed');
  }
}

function send(res: ServerResponse, outcome: Outcome): void {
  if (res.destroyed || res.headersSent) return;
  // go-plugins-helpers (Docker's own SDK) also ends replies with a newline.
  const text = `${JSON.stringify(outcome.body)}\n`;
  const headers: Record<string, string | number> = {
    'Content-Type': PLUGIN_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(text),
  };
  if (outcome.close) headers.Connection = 'close';
  res.writeHead(outcome.status, headers);
  res.end(text);
}

function methodNotAllowed(method: string | undefined, path: string, allowed: string): PluginError {
  return new PluginError(
    'METHOD_NOT_ALLOWED',
    `${quotePath(path)} takes ${allowed}, not ${method ?? 'no method'}`,
  );
}

function quotePath(path: string): string {
  const text = JSON.stringify(path);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}

function shorten(text: string): string {
  return text.length > MAX_LOGGED_BODY ? `${text.slice(0, MAX_LOGGED_BODY)}...` : text;
}

function tooLarge(size: number, limit: number): PluginError {
  return new PluginError(
    'BODY_TOO_LARGE',
    `request body of ${size} bytes or more is over the ${limit}-byte limit`,
  );
}

/** readBody collects the body up to `limit` bytes; over it, stops collecting and throws 413. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(tooLarge(declared, limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Keep draining (not buffering) so the 413 reply can still be read by the client.
        req.resume();
        reject(tooLarge(size, limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * withDeadline runs `operation`, rejecting with `timeout()` after `ms`. The operation cannot
 * be cancelled (etcd may still commit); `onLate` hears how it ended after the deadline.
 */
function withDeadline<T>(
  operation: () => Promise<T>,
  ms: number,
  timeout: () => Error,
  onLate?: (late: string) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(timeout());
    }, ms);
    const settle = (late: string): void => {
      if (timedOut) onLate?.(late);
      clearTimeout(timer);
    };
    let promise: Promise<T>;
    try {
      promise = operation();
    } catch (error) {
      settle('threw');
      reject(error);
      return;
    }
    promise.then(
      (value) => {
        settle('succeeded');
        resolve(value);
      },
      (error: unknown) => {
        settle(`failed: ${error instanceof Error ? error.message : String(error)}`);
        reject(error);
      },
    );
  });
}
