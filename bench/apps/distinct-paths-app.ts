/**
 * The distinct-paths benchmark, beside the counter: change i writes i to slot `k<i mod 16>`,
 * so consecutive changes never write the same path and the daemon coalesces nothing: every
 * change travels as its own PatchOp and is applied by the flow, as in the bare-gRPC baseline
 * (one PatchOp per change). The Flow's count is the newest slot value (deltas arrive in
 * order, so every earlier change is applied too). State stays 16 numbers however long it runs.
 */
import { streamApp } from './stream-app.ts';

const SLOTS = 16;
const KEYS = Array.from({ length: SLOTS }, (_, i) => `k${i}`);

export default streamApp({
  name: 'bench-distinct-paths',
  initial: () => ({ slots: Object.fromEntries(KEYS.map((k) => [k, 0])) as Record<string, number> }),
  change: (state, i) => {
    state.slots[KEYS[i % SLOTS] as string] = i;
  },
  count: (state) => {
    let newest = 0;
    for (const k of KEYS) newest = Math.max(newest, state.slots[k] ?? 0);
    return newest;
  },
});
