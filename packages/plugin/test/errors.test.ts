/** The one error table: every kind to its status, unknown errors to a bare 500. */
import { CidrError, KontenaError } from '@kontena-ipam/cidr';
import { StoreError, type StoreErrorCode } from '@kontena-ipam/store';
import { describe, expect, it } from 'vitest';
import { errorReply, INTERNAL_ERR, PluginError } from '../src/errors.js';

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
  const storeCases: Array<[StoreErrorCode, number]> = [
    ['INVALID', 400],
    ['POOL_MISMATCH', 400],
    ['OUT_OF_RANGE', 400],
    ['POOL_NOT_FOUND', 404],
    ['SUBNET_OVERLAP', 409],
    ['ALREADY_HELD', 409],
    ['ADDRESS_IN_USE', 409],
    ['CONFLICT', 409],
    ['POOL_EXHAUSTED', 507],
    ['SUPERNET_EXHAUSTED', 507],
    ['UNAVAILABLE', 503],
  ];
  for (const [code, status] of storeCases) {
    it(`maps the store's ${code} to ${status}, keeping its message`, () => {
      const reply = errorReply(new StoreError(code, `the store says ${code}`));
      expect(reply).toMatchObject({
        status,
        err: `the store says ${code}`,
        code,
        unexpected: false,
      });
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
