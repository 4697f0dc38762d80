/**
 * The app of the faulty-link tests. Work `root.w` appends 1..n to `items` and sets `count`, a
 * tick (one delta) every five writes: a delta applied twice shows as a repeat, a lost one as
 * a hole. The flow pushes a mark into the work's state at every multiple of MARK_EVERY the
 * count has passed: requests the daemon applies once (one applied twice shows twice, a lost
 * one is never confirmed). With `blob`, the state holds a large string from the start and the
 * work replaces it halfway.
 */
import { Flow, LightningApp, Work } from '../../constructs/index.ts';

export const MARK_EVERY = 20;

export type AppendingState = {
  items: number[];
  count: number;
  marks: number[];
  blob?: string;
  /** Written at the end through the UI's PATCH path (FaultyLink.settle). */
  closed?: boolean;
};

export interface Blobs {
  readonly first: string;
  readonly halfway: string;
}

/** A builder of the app (the flow and the daemon each build their own tree). */
export function appendingApp(name: string, n: number, blob?: Blobs): () => LightningApp {
  return () => {
    class Appender extends Work<AppendingState> {
      override async execute() {
        for (let i = 1; i <= n; i++) {
          this.state.items.push(i);
          this.state.count = i;
          if (blob && i === n / 2) this.state.blob = blob.halfway;
          if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      }
    }
    class Root extends Flow {
      readonly w = new Appender(this, 'w', {
        state: { items: [], count: 0, marks: [], ...(blob ? { blob: blob.first } : {}) },
        parallel: true,
      });
      override run() {
        this.w.run({});
        // Every multiple the count has passed, in order: a pass may come after the count
        // crossed several of them (a fast work, a slow pass), and each must still be marked once.
        const reached = Math.floor(this.w.state.count / MARK_EVERY) * MARK_EVERY;
        for (let mark = MARK_EVERY; mark <= reached; mark += MARK_EVERY) {
          if (!this.w.state.marks.includes(mark)) this.w.state.marks.push(mark);
        }
      }
    }
    const app = new LightningApp({ name });
    new Root(app, 'root');
    return app;
  };
}

/** What the reference model holds once the call succeeded and the last write was confirmed. */
export function appendingModel(n: number, blob?: Blobs): AppendingState {
  return {
    items: Array.from({ length: n }, (_, i) => i + 1),
    count: n,
    marks: Array.from({ length: Math.floor(n / MARK_EVERY) }, (_, i) => (i + 1) * MARK_EVERY),
    ...(blob ? { blob: blob.halfway } : {}),
    closed: true,
  };
}
