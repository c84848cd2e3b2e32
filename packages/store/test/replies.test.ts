/**
 * Ops and their responses by name (etcd/replies.ts), with no etcd: whatever is added before or
 * between them, a name finds exactly the responses of its own ops.
 */
import type { IRequestOp, IResponseOp } from 'etcd3';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { getOp, putOp } from '../src/etcd/ops.js';
import { OpList } from '../src/etcd/replies.js';

/** answer is what etcd would answer each op of `ops`: a range response naming the op's key. */
function answer(ops: readonly IRequestOp[]): IResponseOp[] {
  return ops.map((op) => {
    const key = (op.request_range?.key ?? op.request_put?.key) as Buffer;
    return {
      response_range: {
        kvs: [{ key, value: Buffer.from('') }],
        more: false,
        count: '1',
      },
    } as unknown as IResponseOp;
  });
}

test('a name finds its own responses wherever its ops sit among others', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 5 }),
      (runs, before) => {
        const ops = new OpList<`run ${number}`>();
        for (let i = 0; i < before; i++) ops.add(putOp(`/before/${i}`, 'x'));
        runs.forEach((length, r) => {
          ops.named(`run ${r}`, ...Array.from({ length }, (_, k) => getOp(`/run/${r}/${k}`)));
          ops.add(putOp(`/between/${r}`, 'x'));
        });
        const replies = ops.replies(answer(ops.ops));
        runs.forEach((length, r) => {
          expect(replies.kvs(`run ${r}`).map((kv) => kv.key.toString())).toEqual(
            Array.from({ length }, (_, k) => `/run/${r}/${k}`),
          );
        });
      },
    ),
  );
});

test('a name given twice, or never, is a programming error', () => {
  const ops = new OpList<'a' | 'b'>().named('a', getOp('/a'));
  expect(() => ops.named('a', getOp('/a2'))).toThrow('ops named a twice');
  expect(() => ops.replies([]).kvs('b')).toThrow('no ops named b');
});
