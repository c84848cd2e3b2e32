/**
 * The one shape of every kontena-ipam error: a stable `code`, a `kind` that follows from it by
 * one table per package, an optional `cause`, and a stable `name`. Each package's error class
 * (CidrError, StoreError, PluginError, CleanupError, AppError) is `errorClass(name, table)`
 * with its own codes; it lives here because cidr is the package every other one depends on.
 * Plain ECMAScript (no Node API), like the rest of this package.
 */

/**
 * ErrorKind is the one vocabulary of error kinds every package of this project uses: it says
 * what the caller should do about an error, and the plugin turns it into an HTTP status. Each
 * package maps its own stable codes to these kinds in one table (a code's kind never depends on
 * who throws it).
 */
export type ErrorKind =
  | 'invalid' // the caller's input is wrong: fix the command
  | 'not-found' // the thing named does not exist
  | 'conflict' // someone else holds it, or the state moved: retry or choose another
  | 'exhausted' // no room left: capacity, not the caller's mistake
  | 'unavailable' // a dependency (etcd, Docker) did not answer, or its data is unusable
  | 'too-large' // a request over a size limit (the plugin's HTTP edge)
  | 'method' // a request with the wrong HTTP method (the plugin's HTTP edge)
  | 'internal'; // a bug: shown without detail, logged with its cause

/** KindTable maps every code of one package to its kind: the one place that decides it. */
export type KindTable<Code extends string> = Readonly<Record<Code, ErrorKind>>;

/**
 * KontenaError is the base of every package's error class: `instanceof KontenaError` tells an
 * error of this project from anything else. It is abstract; a package makes its class with
 * errorClass, so that `kind` always comes from the package's table.
 */
export abstract class KontenaError<
  Code extends string = string,
  Kind extends ErrorKind = ErrorKind,
> extends Error {
  /** code says what went wrong; stable across releases, so callers switch on it. */
  readonly code: Code;
  /** kind follows from `code` (the package's KindTable): what the caller should do about it. */
  readonly kind: Kind;

  protected constructor(
    coded: { name: string; code: Code; kind: Kind },
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    // An own property, set before anyone reads `stack` (V8 formats its header lazily), so
    // the stack, logs and util.inspect all show the package's class name.
    this.name = coded.name;
    this.code = coded.code;
    this.kind = coded.kind;
  }
}

/** CodeOf is the codes of a KindTable. */
export type CodeOf<Table extends KindTable<string>> = keyof Table & string;

/**
 * ErrorClass is what errorClass returns: a class whose constructor takes one of the table's
 * codes (optionally narrowed by a subclass, as `AppError<'INVALID_CONFIG'>`), the message, and
 * `{ cause }`.
 */
export interface ErrorClass<Table extends KindTable<string>> {
  new <Code extends CodeOf<Table> = CodeOf<Table>>(
    code: Code,
    message: string,
    options?: ErrorOptions,
  ): KontenaError<Code, Table[Code]>;
  readonly prototype: KontenaError<CodeOf<Table>, Table[CodeOf<Table>]>;
}

/**
 * errorClass makes a package's error class: its instances are named `name`, and their `kind`
 * is `kinds[code]`. Subclass the result to give the class its exported name:
 * `export class StoreError extends errorClass('StoreError', KIND_BY_CODE) {}`.
 */
export function errorClass<const Table extends KindTable<string>>(
  name: string,
  kinds: Table,
): ErrorClass<Table> {
  return class<Code extends CodeOf<Table>> extends KontenaError<Code, Table[Code]> {
    constructor(code: Code, message: string, options?: ErrorOptions) {
      super({ name, code, kind: kinds[code] }, message, options);
    }
  };
}
