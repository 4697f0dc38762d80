/**
 * The counter benchmark (scenario 1's main rows): each change is `count++`, one path, so a
 * daemon under load sends only the newest of consecutive writes (daemon-link.ts coalesces
 * them). See bench/apps/stream-app.ts for the phases and the logs.
 */
import { streamApp } from './stream-app.ts';

export default streamApp({
  name: 'bench-counter',
  initial: () => ({ count: 0 }),
  change: (state, _i) => {
    state.count++;
  },
  count: (state) => state.count,
});
