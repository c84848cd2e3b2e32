/** The one error base every package's error class is made from (errorClass + KontenaError). */
import { describe, expect, it } from 'vitest';
import { CidrError, errorClass, type KindTable, KontenaError } from '../src/index.js';

type DemoCode = 'BAD_INPUT' | 'GONE' | 'DOWN';
const DEMO_KINDS = {
  BAD_INPUT: 'invalid',
  GONE: 'not-found',
  DOWN: 'unavailable',
} as const satisfies KindTable<DemoCode>;

class DemoError extends errorClass('DemoError', DEMO_KINDS) {}
class OtherError extends errorClass('OtherError', { DOWN: 'unavailable' }) {}

describe('errorClass', () => {
  it("derives each error's kind from its code through the table", () => {
    expect(new DemoError('BAD_INPUT', 'm').kind).toBe('invalid');
    expect(new DemoError('GONE', 'm').kind).toBe('not-found');
    expect(new DemoError('DOWN', 'm').kind).toBe('unavailable');
  });

  it('keeps code, message and cause', () => {
    const cause = new Error('etcd said no');
    const error = new DemoError('DOWN', 'the store is down', { cause });
    expect(error.code).toBe('DOWN');
    expect(error.message).toBe('the store is down');
    expect(error.cause).toBe(cause);
    expect(new DemoError('GONE', 'no cause').cause).toBeUndefined();
  });

  it('names every instance after its class, in the stack too', () => {
    const error = new DemoError('GONE', 'pool x is gone');
    expect(error.name).toBe('DemoError');
    expect(String(error)).toBe('DemoError: pool x is gone');
    expect(error.stack?.split('\n')[0]).toBe('DemoError: pool x is gone');
  });

  it('makes classes that are KontenaErrors and Errors, but not one another', () => {
    const demo = new DemoError('DOWN', 'm');
    const other = new OtherError('DOWN', 'm');
    expect(demo).toBeInstanceOf(Error);
    expect(demo).toBeInstanceOf(KontenaError);
    expect(other).toBeInstanceOf(KontenaError);
    expect(demo).not.toBeInstanceOf(OtherError);
    expect(other).not.toBeInstanceOf(DemoError);
  });

  it("gives this package's CidrError the same shape, with its input", () => {
    const error = new CidrError('INVALID_SUBNET', 'bad subnet "x"', 'x');
    expect(error).toBeInstanceOf(KontenaError);
    expect(error).toMatchObject({ name: 'CidrError', code: 'INVALID_SUBNET', kind: 'invalid' });
    expect(error.input).toBe('x');
  });
});
