/**
 * A work's log lines waiting for the flow: batched per tick while connected, kept while the
 * flow is unreachable, and bounded: past `maxLines` the older lines are dropped and the
 * buffer says so, so a long disconnect cannot grow the daemon without limit.
 */
import { LogChunk_Stream } from '../../proto/gen/lightning/v1/runtime_pb.ts';

export interface LogBatch {
  readonly stream: LogChunk_Stream;
  readonly lines: string[];
}

export class LogBuffer {
  private batches: LogBatch[] = [];
  private lines = 0;

  /** @param maxLines lines kept while the flow is unreachable (default 2,000) */
  constructor(private readonly maxLines = 2000) {}

  get isEmpty(): boolean {
    return this.batches.length === 0;
  }

  push(stream: LogChunk_Stream, lines: string[]): void {
    if (this.lines + lines.length > this.maxLines) {
      // Disconnected for long: keep the newest lines, say that some were dropped.
      this.batches = [
        { stream: LogChunk_Stream.DAEMON, lines: ['[log lines dropped while the flow was unreachable]'] },
      ];
      this.lines = 1;
    }
    this.batches.push({ stream, lines });
    this.lines += lines.length;
  }

  /** Everything buffered, oldest first; the buffer is empty after. */
  take(): LogBatch[] {
    const out = this.batches;
    this.batches = [];
    this.lines = 0;
    return out;
  }
}
