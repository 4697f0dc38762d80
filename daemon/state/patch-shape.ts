/**
 * The shape of JSON Patch operations (RFC 6902 §4) as they arrive: from the HTTP API as
 * parsed JSON, from daemons as wire messages. One rule for which members an op needs;
 * values are checked when applied (json-patch.ts).
 */
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { JsonValue } from '../../constructs/json.ts';
import type { PatchOperation, PatchOpName } from './json-patch.ts';

const OP_NAMES: ReadonlySet<string> = new Set<PatchOpName>([
  'add',
  'remove',
  'replace',
  'move',
  'copy',
  'test',
]);

/** The members an op needs besides `path` (RFC 6902 §4): one rule for every decoder. */
export function opNeeds(op: PatchOpName): { readonly value: boolean; readonly from: boolean } {
  return { value: op === 'add' || op === 'replace' || op === 'test', from: op === 'move' || op === 'copy' };
}

/**
 * A JSON Patch document as received (parsed JSON of unknown shape) → operations, or
 * INVALID_ARGUMENT naming the first bad op. Values are checked when applied.
 */
export function patchFromJson(body: unknown): PatchOperation[] {
  const bad = (message: string) =>
    new DaemonError(GrpcCode.INVALID_ARGUMENT, message, {
      fix: 'send an RFC 6902 array, e.g. [{"op":"replace","path":"/epochs","value":5}]',
    });
  if (!Array.isArray(body))
    throw bad(`the body is a ${body === null ? 'null' : typeof body}, not a JSON Patch array.`);
  if (body.length === 0) throw bad('the patch is empty.');
  return body.map((raw, i) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad(`op #${i} is not an object.`);
    const o = raw as Record<string, unknown>;
    if (typeof o.op !== 'string' || !OP_NAMES.has(o.op)) {
      throw bad(`op #${i} has op ${JSON.stringify(o.op)}; use one of ${[...OP_NAMES].join(', ')}.`);
    }
    const op = o.op as PatchOpName;
    if (typeof o.path !== 'string') throw bad(`op #${i} (${op}) has no "path" string.`);
    const needs = opNeeds(op);
    if (needs.value && !Object.hasOwn(o, 'value')) throw bad(`op #${i} (${op} ${o.path}) has no "value".`);
    if (needs.from && typeof o.from !== 'string')
      throw bad(`op #${i} (${op} ${o.path}) has no "from" string.`);
    return {
      op,
      path: o.path,
      ...(needs.from ? { from: o.from as string } : {}),
      ...(needs.value ? { value: o.value as JsonValue } : {}),
    };
  });
}
