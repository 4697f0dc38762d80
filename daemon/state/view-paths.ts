/**
 * Where a recording view (state-recorder.ts) writes: a view remembers the object it was read
 * from and the key, not only the path (ADR 0027), and finds its path again at each write, so
 * a held view of an array element follows the element when it moves, and a view of an object
 * that left the document throws instead of writing where another value now is.
 */
import { LightningError } from '../../constructs/errors.ts';
import type { DocumentBudget } from './document-budget.ts';
import { escapeToken } from './json-patch.ts';
import type { OpSink } from './pending-arrays.ts';

/** What a view knows about where it is and where its writes go. */
export interface Meta {
  /** The path when the view was made; still right while every `parent` link holds. */
  readonly pointer: string;
  /** The container the object was read from, and its key there (none for a root view). */
  readonly parent: { readonly target: object; readonly key: string; readonly meta: Meta } | null;
  readonly sink: OpSink;
  readonly readonly: boolean;
  readonly label: string;
  /** Called before a write changes the document (the flow keeps the owner's copy apart then). */
  readonly beforeWrite: (() => void) | undefined;
  /** The document's size limit: a write that would exceed it throws before it changes anything. */
  readonly budget: DocumentBudget | undefined;
}

/**
 * The object's path now. Fast path: every link still holds, so the path it was made with is
 * right. Otherwise an element that moved inside its array is found by identity.
 */
export function currentPointer(meta: Meta, target: object): string {
  let m = meta;
  let t = target;
  for (let link = m.parent; link; link = m.parent) {
    if ((link.target as Record<string, unknown>)[link.key] !== t) return resolveMoved(meta, target);
    m = link.meta;
    t = link.target;
  }
  return meta.pointer;
}

function resolveMoved(meta: Meta, target: object): string {
  const link = meta.parent;
  if (!link) return meta.pointer;
  const parentPointer = resolveMoved(link.meta, link.target);
  const container = link.target as Record<string, unknown>;
  let key = link.key;
  if (container[key] !== target) {
    const index = Array.isArray(container) ? container.indexOf(target) : -1;
    if (index < 0) {
      throw new LightningError(
        'STATE_VALUE',
        `${meta.label}${meta.pointer} is no longer in the state: the object read there was removed or ` +
          'replaced since (assigning copies a value, so a view of the old object writes nowhere).',
        {
          fix: `read it again from the state after the change and write there, e.g. \`${jsPath(meta)}.x = …\``,
        },
      );
    }
    key = String(index);
  }
  return `${parentPointer}/${escapeToken(key)}`;
}

/** `this.state.items[0]` for a view of `/items/0` (for error messages). */
function jsPath(meta: Meta): string {
  const base = meta.label.endsWith('.state') ? 'this.state' : meta.label;
  const parts = meta.pointer
    .split('/')
    .slice(1)
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
  return (
    base +
    parts
      .map((p) =>
        /^\d+$/.test(p) ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`,
      )
      .join('')
  );
}
