/**
 * The size limit of one state document (DESIGN §3.1), enforced when a write is made, so the
 * writer gets the error (a TypeScript work's assignment throws, a script's report gets a 413,
 * the UI's PATCH a 400) and no document grows beyond what the protocol resyncs.
 *
 * Measuring the whole document on every write would make a write cost O(state) instead of
 * O(change) (the recorder's promise). So the budget keeps the exact size measured last and an
 * upper bound of the growth since (every written value counts in full, removals count
 * nothing); only when that bound crosses the limit is the document measured again. Near the
 * limit writes measure more often; far from it, never.
 *
 * Size is the length of the document's JSON text (`JSON.stringify`), in UTF-16 code units: what
 * the resync sends, one unit per byte for ASCII.
 */
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import {
  applyPatch,
  captureOps,
  cloneState,
  type JsonContainer,
  type PatchOperation,
  StateLimits,
} from './json-patch.ts';

/** Length of a state value's JSON text. */
export function jsonLength(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}

/** A write that would take a state document over {@link StateLimits.maxDocumentBytes}. */
export class StateSizeError extends DaemonError {
  constructor(label: string, where: string, projected: number, limit: number) {
    super(
      GrpcCode.RESOURCE_EXHAUSTED,
      `${label} would be ${formatBytes(projected)} of JSON after this write (at ${where || '/'}); ` +
        `the limit is ${formatBytes(limit)} per state document, so that every state can be resynced. ` +
        'Keep large data out of state: write it to a Drive (or return it as a Payload) and keep the ' +
        'Path or Payload reference in state.',
    );
    this.name = 'StateSizeError';
  }
}

export class DocumentBudget {
  /** Exact size at the last measurement; measured at the first write (views are rebuilt often). */
  private measured: number | null = null;
  private growth = 0;

  /**
   * @param doc the document (its root object)
   * @param label how errors name it, e.g. "root.train.state"
   * @param limit largest JSON text allowed. @default StateLimits.maxDocumentBytes
   * @param maxValueBytes largest value written at once (the flow's writes to a work's state
   *   travel to its daemon as single ops). @default no limit but the document's
   */
  constructor(
    private readonly doc: JsonContainer,
    readonly label: string,
    readonly limit: number = StateLimits.maxDocumentBytes,
    readonly maxValueBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Before `value` is stored at `container[key]` (at `where`): throws a StateSizeError,
   * changing nothing, if the document would then exceed the limit.
   */
  admit(container: object, key: string, value: JsonValue, where: string): void {
    const size = jsonLength(value);
    if (size > this.maxValueBytes) {
      throw new DaemonError(
        GrpcCode.RESOURCE_EXHAUSTED,
        `${this.label}${where} would get a value of ${formatBytes(size)} of JSON in one write; the limit ` +
          `for one value written here is ${formatBytes(this.maxValueBytes)} (it travels as one op to the ` +
          "work's daemon). Write it to a Drive (or pass a Payload) and put the Path or Payload in state.",
      );
    }
    const added = size + key.length + 4; // "key":value, plus a comma
    this.measured ??= jsonLength(this.doc);
    if (this.measured + this.growth + added <= this.limit) {
      this.growth += added;
      return;
    }
    const replaced = Object.hasOwn(container, key)
      ? jsonLength((container as Record<string, unknown>)[key]) + key.length + 4
      : 0;
    this.measured = jsonLength(this.doc);
    this.growth = 0;
    const projected = this.measured - replaced + added;
    if (projected > this.limit) throw new StateSizeError(this.label, where, projected, this.limit);
    this.growth = added;
  }

  /**
   * Before `ops` are applied to the document: throws a StateSizeError if the result would
   * exceed the limit. (Near the limit it tries them on a copy.)
   */
  admitOps(ops: readonly PatchOperation[]): void {
    let added = 0;
    for (const op of ops) {
      added += op.path.length + 4 + (op.value === undefined ? 0 : jsonLength(op.value));
      if (op.op === 'copy') added = Number.POSITIVE_INFINITY; // its size is in the document
    }
    if (this.measured !== null && this.measured + this.growth + added <= this.limit) {
      this.growth += added;
      return;
    }
    const trial = cloneState(this.doc as JsonValue) as JsonContainer;
    // Copies of the values: applying ops inserts their values, and a later op of the same
    // batch (a push into an array added just before) would change the caller's op.
    applyPatch(trial, captureOps(ops));
    const projected = jsonLength(trial);
    if (projected > this.limit) {
      throw new StateSizeError(this.label, ops[ops.length - 1]?.path ?? '', projected, this.limit);
    }
    this.measured = projected;
    this.growth = 0;
  }

  /** The document was replaced or changed without `admit` (a snapshot): measure again. */
  remeasure(): number {
    this.measured = jsonLength(this.doc);
    this.growth = 0;
    return this.measured;
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)} MB`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)} kB`;
  return `${n} bytes`;
}
