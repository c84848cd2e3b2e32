/**
 * Ops by name, answers by name. A transaction's responses come back in the order of its ops;
 * a caller that counts positions (`at + 1`, "the gets follow the two puts") is mis-decoded
 * silently the day an op is added or moved. OpList gives each op or run of ops a name as it is
 * added, and Replies finds their responses by that name, as Snapshot (cas.ts) does for a
 * transition's reads.
 */
import type { IKeyValue, IRequestOp, IResponseOp, ITxnResponse } from 'etcd3';

/** Span is where a named run of ops sits in the list: its first index and length. */
interface Span {
  readonly first: number;
  readonly length: number;
}

/** OpList is a transaction branch built in order, with names for what is read back. */
export class OpList<K extends string> {
  private readonly list: IRequestOp[] = [];
  private readonly spans = new Map<K, Span>();

  /** add appends ops nobody reads back (puts, deletes). */
  add(...ops: IRequestOp[]): this {
    this.list.push(...ops);
    return this;
  }

  /** named appends a run of ops whose responses are found by `name` (each name once). */
  named(name: K, ...ops: IRequestOp[]): this {
    if (this.spans.has(name)) throw new Error(`ops named ${name} twice`);
    this.spans.set(name, { first: this.list.length, length: ops.length });
    this.list.push(...ops);
    return this;
  }

  /** ops is the branch, in order. */
  get ops(): IRequestOp[] {
    return [...this.list];
  }

  /** replies reads the responses of this branch (a committed Then, or a nested txn's). */
  replies(responses: readonly IResponseOp[] | ITxnResponse): Replies<K> {
    return new Replies('responses' in responses ? responses.responses : responses, this.spans);
  }
}

/** Replies are a branch's responses, found by the names their ops were given (OpList). */
export class Replies<K extends string> {
  private readonly responses: readonly IResponseOp[];
  private readonly spans: ReadonlyMap<K, Span>;

  constructor(responses: readonly IResponseOp[], spans: ReadonlyMap<K, Span>) {
    this.responses = responses;
    this.spans = spans;
  }

  /** of is the responses of the ops named `name`, in order. */
  of(name: K): readonly IResponseOp[] {
    const span = this.spans.get(name);
    if (!span) throw new Error(`no ops named ${name}`);
    return this.responses.slice(span.first, span.first + span.length);
  }

  /** kvs are every key-value the reads named `name` found. */
  kvs(name: K): IKeyValue[] {
    return this.of(name).flatMap((r) => r.response_range?.kvs ?? []);
  }

  /** kv is the one key-value of a get named `name`, if the key exists. */
  kv(name: K): IKeyValue | undefined {
    return this.kvs(name)[0];
  }

  /** response is the one response of the op named `name` (a nested transaction's, say). */
  response(name: K): IResponseOp | undefined {
    return this.of(name)[0];
  }
}
