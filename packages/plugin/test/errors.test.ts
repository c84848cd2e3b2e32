/**
 * The one error table: every kind to its status, unknown errors to a bare 500. The tables below
 * are Records over the code unions, so a code added to the store or the plugin without a line
 * here fails the typecheck; and every kind of the project's vocabulary must be reached.
 */
import { CidrError, type ErrorKind, KontenaError } from '@kontena-ipam/cidr';
import { StoreError, type StoreErrorCode } from '@kontena-ipam/store';
import { afterAll, describe, expect, it } from 'vitest';
import { errorReply, INTERNAL_ERR, PluginError, type PluginErrorCode } from '../src/errors.js';

/** STATUS is what each kind of the vocabulary must answer. */
const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  'not-found': 404,
  method: 405,
  conflict: 409,
  'too-large': 413,
  internal: 500,
  unavailable: 503,
  exhausted: 507,
};

describe('the error classes the table reads', () => {
  it('are KontenaErrors named after their class, kind from code, cause kept', () => {
    const cause = new Error('etcd deadline');
    const errors = [
      [new PluginError('TIMEOUT', 'slow', { cause }), 'PluginError', 'unavailable'],
      [new StoreError('POOL_EXHAUSTED', 'full', { cause }), 'StoreError', 'exhausted'],
      [new CidrError('HOST_BITS_SET', 'bits', '10.0.0.1/8'), 'CidrError', 'invalid'],
    ] as const;
    for (const [error, name, kind] of errors) {
      expect(error).toBeInstanceOf(KontenaError);
      expect(error.name).toBe(name);
      expect(error.kind).toBe(kind);
    }
    expect(errors[0][0].cause).toBe(cause);
    expect(errors[1][0].cause).toBe(cause);
  });
});

describe('errorReply', () => {
  /** The kinds the cases below reached; every one of STATUS must be. */
  const reached = new Set<ErrorKind>();
  afterAll(() => {
    expect([...reached].sort()).toEqual(Object.keys(STATUS).sort());
  });

  const storeStatus: Record<StoreErrorCode, number> = {
    INVALID: 400,
    POOL_MISMATCH: 400,
    OUT_OF_RANGE: 400,
    POOL_NOT_FOUND: 404,
    SUBNET_OVERLAP: 409,
    ALREADY_HELD: 409,
    ADDRESS_IN_USE: 409,
    CONFLICT: 409,
    POOL_EXHAUSTED: 507,
    SUPERNET_EXHAUSTED: 507,
    // An unreadable record: unusable until an operator repairs it (`kontena-ipam check`).
    CORRUPT_RECORD: 503,
    // This instance does not hold its NODE_ID's registration: nothing written until it does.
    NOT_REGISTERED: 503,
    // An operator tool acting for a gone host found it live after all.
    NODE_LIVE: 409,
    UNAVAILABLE: 503,
  };
  const storeCases = Object.entries(storeStatus) as Array<[StoreErrorCode, number]>;
  for (const [code, status] of storeCases) {
    it(`maps the store's ${code} to ${status}, keeping its message`, () => {
      const reply = errorReply(new StoreError(code, `the store says ${code}`));
      expect(reply).toMatchObject({
        status,
        err: `the store says ${code}`,
        code,
        unexpected: false,
      });
      expect(STATUS[reply.kind]).toBe(status);
      reached.add(reply.kind);
    });
  }

  it('maps a CidrError to 400 with its message', () => {
    expect(errorReply(new CidrError('INVALID_SUBNET', 'bad subnet "x"', 'x'))).toMatchObject({
      status: 400,
      err: 'bad subnet "x"',
      code: 'INVALID_SUBNET',
    });
  });

  it("maps the plugin's own kinds, 413 and 405 included", () => {
    expect(errorReply(new PluginError('BODY_TOO_LARGE', 'big')).status).toBe(413);
    expect(errorReply(new PluginError('METHOD_NOT_ALLOWED', 'GET')).status).toBe(405);
    expect(errorReply(new PluginError('ROUTE_NOT_FOUND', 'where')).status).toBe(404);
    expect(errorReply(new PluginError('TIMEOUT', 'slow')).status).toBe(503);
  });

  const pluginStatus: Record<PluginErrorCode, number> = {
    INVALID_REQUEST: 400,
    BAD_JSON: 400,
    ROUTE_NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    BODY_TOO_LARGE: 413,
    TIMEOUT: 503,
    SOCKET_IN_USE: 409,
    SOCKET_PATH_INVALID: 400,
    INTERNAL: 500, // as "internal error", its text never shown (below)
  };
  for (const [code, status] of Object.entries(pluginStatus) as Array<[PluginErrorCode, number]>) {
    it(`maps the plugin's ${code} to ${status}`, () => {
      const reply = errorReply(new PluginError(code, `the plugin says ${code}`));
      expect(reply.status).toBe(status);
      expect(reply.err).toBe(code === 'INTERNAL' ? INTERNAL_ERR : `the plugin says ${code}`);
      expect(STATUS[reply.kind]).toBe(status);
      reached.add(reply.kind);
    });
  }

  it('turns anything unknown into 500 "internal error" without leaking its text', () => {
    for (const error of [
      new Error('secret detail'),
      new TypeError('x is undefined'),
      'a string',
      undefined,
    ]) {
      expect(errorReply(error)).toEqual({
        status: 500,
        err: INTERNAL_ERR,
        code: 'INTERNAL',
        kind: 'internal',
        unexpected: true,
      });
    }
    expect(errorReply(new PluginError('INTERNAL', 'a bug')).err).toBe(INTERNAL_ERR);
  });
});
