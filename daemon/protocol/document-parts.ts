/**
 * A state document larger than one message travels in parts (Snapshot and Welcome `part` /
 * `parts`, see runtime.proto): cut on the sending side, put back together on the receiving
 * side. The receiver bounds the whole (a peer cannot make it buffer without end) and refuses
 * parts out of order; either is a protocol error that ends the stream. Also here: a tick's
 * ops cut into deltas the flow accepts.
 */
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { PatchOp } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { StateLimits } from '../state/json-patch.ts';

/**
 * Cuts JSON text into pieces of at most `maxPart` UTF-16 units, never between the two halves
 * of a surrogate pair (protobuf strings are UTF-8: a lone half would arrive as U+FFFD).
 */
export function splitText(text: string, maxPart: number = StateLimits.maxPartBytes): string[] {
  if (text.length <= maxPart) return [text];
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    let end = Math.min(text.length, at + maxPart);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    if (end === at) end = Math.min(text.length, at + 2); // maxPart 1: a pair still travels whole
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

/** Collects the parts of one document at a time. */
export class PartAssembler {
  private pieces: string[] = [];
  private key = '';
  private parts = 0;
  private length = 0;
  private seq: number | undefined;

  /**
   * @param what how errors name the document, e.g. "snapshot of root.train"
   * @param maxTotal largest whole text accepted. @default StateLimits.maxDocumentBytes plus one part (the sender measures a little differently)
   */
  constructor(
    private readonly what: string,
    private readonly maxTotal: number = StateLimits.maxDocumentBytes + StateLimits.maxPartBytes,
  ) {}

  /** Whether some parts arrived and the rest are due. */
  get pending(): boolean {
    return this.parts > 0;
  }

  /** The sequence number given with the parts being collected (see `add`), if any. */
  get pendingSeq(): number | undefined {
    return this.pending ? this.seq : undefined;
  }

  /**
   * Adds part `part` of `parts` of the document identified by `key` (its epoch and seq).
   * Returns the whole text once the last part is in, undefined before. Throws a DaemonError
   * for parts out of order, a changing key or count, or a document over the limit.
   * `seq`: the document's place in the sender's order, for `pendingSeq`.
   */
  add(key: string, part: number, parts: number, text: string, seq?: number): string | undefined {
    const whole = parts <= 1;
    if (whole && part === 0 && !this.pending) return text;
    if (part >= parts && !whole) {
      this.reset();
      throw new DaemonError(
        GrpcCode.INVALID_ARGUMENT,
        `${this.what}: part ${part} of ${parts} does not exist`,
      );
    }
    if (part === 0 && !whole) {
      this.reset();
      this.key = key;
      this.parts = parts;
      this.seq = seq;
    } else if (
      whole ||
      !this.pending ||
      key !== this.key ||
      parts !== this.parts ||
      part !== this.pieces.length
    ) {
      const expected = this.pending ? `part ${this.pieces.length} of ${this.parts}` : 'part 0';
      this.reset();
      throw new DaemonError(
        GrpcCode.INVALID_ARGUMENT,
        `${this.what}: got part ${part} of ${parts}, expected ${expected}`,
      );
    }
    this.length += text.length;
    if (this.length > this.maxTotal) {
      this.reset();
      throw new DaemonError(
        GrpcCode.RESOURCE_EXHAUSTED,
        `${this.what} is over ${this.maxTotal} bytes of JSON; a state document is limited to ${StateLimits.maxDocumentBytes}`,
      );
    }
    this.pieces.push(text);
    if (this.pieces.length < this.parts) return undefined;
    const joined = this.pieces.join('');
    this.reset();
    return joined;
  }

  /** Drops what was collected (the stream ended). */
  reset(): void {
    this.pieces = [];
    this.key = '';
    this.parts = 0;
    this.length = 0;
    this.seq = undefined;
  }
}

/**
 * Wire ops cut into deltas the flow accepts: at most StateLimits.maxOpsPerDelta ops and
 * about StateLimits.maxPartBytes of JSON each (under the 4 MiB message limit). Null when one
 * op's value is over StateLimits.maxValueBytes (it must travel in a snapshot). Always at least
 * one batch (an empty delta still confirms flow requests).
 */
export function deltaBatches(wire: PatchOp[]): PatchOp[][] | null {
  const batches: PatchOp[][] = [];
  let batch: PatchOp[] = [];
  let units = 0;
  for (const op of wire) {
    if (op.valueJson.length > StateLimits.maxValueBytes) return null;
    const size = op.valueJson.length + op.path.length + op.from.length + 16;
    if (
      batch.length >= StateLimits.maxOpsPerDelta ||
      (batch.length > 0 && units + size > StateLimits.maxPartBytes)
    ) {
      batches.push(batch);
      batch = [];
      units = 0;
    }
    batch.push(op);
    units += size;
  }
  batches.push(batch);
  return batches;
}
