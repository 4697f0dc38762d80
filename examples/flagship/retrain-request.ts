/**
 * The Streamlit page asks for a retrain by reporting `request` in its own work state (through
 * its state URL, like any script reports state); the flow reads it and applies it to its own
 * state. So every document keeps one writer: the page writes the ui work's state, the flow
 * writes the flow's. This file checks such a request, since it comes from outside the flow.
 */

/** What the page reports: `request` in the ui work's state. */
export interface RetrainRequest {
  /** Unique per press (the page uses the time in ms): a new id is a new request. */
  id: number;
  epochs: number;
  lr: number;
  hidden: number;
}

export type RetrainRequestCheck =
  | { request: RetrainRequest }
  | { request: { id: number }; error: string }
  | null;

/** Limits that keep a typo from tying up the machine for hours. */
export const LIMITS = { epochs: [1, 500], hidden: [1, 4096], lr: [1e-6, 1] } as const;

/**
 * The request in `raw` if it is new (id differs from `lastId`) and valid; `error` says what
 * is wrong with a new but invalid one; null when there is nothing new.
 */
export function readRetrainRequest(raw: unknown, lastId: number): RetrainRequestCheck {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== 'number' || !Number.isFinite(r.id) || r.id === lastId) return null;
  const id = r.id;
  const problems: string[] = [];
  const int = (key: 'epochs' | 'hidden'): number => {
    const v = r[key];
    const [min, max] = LIMITS[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const epochs = int('epochs');
  const hidden = int('hidden');
  const lr = r.lr;
  const [lrMin, lrMax] = LIMITS.lr;
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < lrMin || lr > lrMax) {
    problems.push(`lr must be a number from ${lrMin} to ${lrMax}, got ${JSON.stringify(lr)}`);
  }
  if (problems.length > 0) return { request: { id }, error: problems.join('; ') };
  return { request: { id, epochs, lr: lr as number, hidden } };
}
