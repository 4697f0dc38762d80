/**
 * The flow's journal (DESIGN §3.3): every change the loop applies is appended here before it
 * is acknowledged, so a restarted flow (`--resume`) comes back with the same state, and
 * daemons that kept running re-attach without restarting their scripts.
 *
 * Format: `journal.jsonl`, one line per loop drain: `{"n":<position>,"c":[[component, ops], …]}`,
 * where each component's document is `{vars, status?, call?, daemon?}` and ops are RFC 6902
 * against it. Positions grow by one per line, across compactions and resumed runs.
 *
 * Compaction (every `compactEvery` lines) writes the whole state with the position it covers,
 * `{"journalSnapshot":2,"upTo":n,"docs":{…}}`, to `snapshot.json` (temp file + rename), then
 * empties the journal. Replay skips lines at or below `upTo`, so a crash at any step of a
 * compaction loads the same state: before the rename the old snapshot and every line remain;
 * after it the lines it covers are skipped, whether or not the journal was emptied yet.
 * Opening a journal to resume cuts a torn last line (the flow died mid-write) so new lines
 * never follow half a line.
 *
 * Durability (`fsync`, default off): lines are written with write(2), which survives the flow
 * process dying (kill -9, OOM, a crash) but not the machine losing power or the kernel
 * crashing. With `fsync: true` each drain's line is fdatasync'd before its acks go out, and
 * a snapshot and its rename are synced before the journal is emptied: this survives power
 * loss too, at the cost of one fdatasync per drain.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { JsonValue } from '../../constructs/json.ts';
import { applyPatch, type PatchOperation, toStateValue } from '../state/json-patch.ts';

export type ComponentDocs = Record<string, Record<string, JsonValue>>;
export type JournalChange = readonly [component: string, ops: readonly PatchOperation[]];

/** The steps of a compaction, in order (for crash-injection tests). */
export type CompactionStep = 'snapshot-written' | 'snapshot-renamed' | 'journal-truncated';

export interface JournalOptions {
  /** Lines between snapshots. @default 5000 */
  readonly compactEvery?: number;
  /**
   * fdatasync every line before its acks go out, and sync snapshots before the journal is
   * emptied: survives power loss, not only a crash of the flow. @default false: survives the
   * flow process dying, not the machine
   */
  readonly fsync?: boolean;
  /** Called after each compaction step (tests kill the process there). @default none */
  readonly onCompactionStep?: (step: CompactionStep) => void;
}

const SNAPSHOT_VERSION = 2;
const JOURNAL = 'journal.jsonl';
const SNAPSHOT = 'snapshot.json';

export class Journal {
  /** Position of the last line written. */
  private position: number;
  /** Lines written since the last snapshot. */
  private sinceSnapshot: number;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly file: FileHandle,
    private readonly options: JournalOptions,
    at: { position: number; sinceSnapshot: number },
  ) {
    this.position = at.position;
    this.sinceSnapshot = at.sinceSnapshot;
  }

  /** Opens the journal in `dir`; `fresh` discards what an earlier run left there. */
  static async open(dir: string, fresh: boolean, options: JournalOptions = {}): Promise<Journal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (fresh) {
      await rm(join(dir, JOURNAL), { force: true });
      await rm(join(dir, SNAPSHOT), { force: true });
    }
    const at = fresh ? { position: 0, sinceSnapshot: 0, validBytes: 0 } : await scan(dir);
    const file = await open(join(dir, JOURNAL), 'a', 0o600);
    if (!fresh && (await file.stat()).size > at.validBytes) await file.truncate(at.validBytes);
    return new Journal(dir, file, options, at);
  }

  /** Reads the state a journal holds (snapshot + replayed lines), or null if there is none. */
  static async load(dir: string): Promise<ComponentDocs | null> {
    const snapshot = await readSnapshot(dir);
    let docs = snapshot?.docs ?? null;
    const upTo = snapshot?.upTo ?? 0;
    let lines: AsyncIterable<string>;
    try {
      const stream = createReadStream(join(dir, JOURNAL), 'utf8');
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
      lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    } catch {
      return docs;
    }
    for await (const line of lines) {
      if (!line.trim()) continue;
      let record: { n: number; c: [string, PatchOperation[]][] };
      try {
        record = JSON.parse(line);
      } catch {
        break; // torn last line
      }
      if (record.n <= upTo) continue; // already in the snapshot (a compaction was cut short)
      docs ??= Object.create(null) as ComponentDocs;
      for (const [component, ops] of record.c) {
        let doc = docs[component];
        if (!doc) {
          doc = Object.create(null) as Record<string, JsonValue>;
          docs[component] = doc;
        }
        applyPatch(
          doc,
          ops.map((op) => ('value' in op ? { ...op, value: toStateValue(op.value) } : op)),
        );
      }
    }
    return docs;
  }

  /**
   * Appends one drain's changes; `onDurable` runs once they are written (acks go out then).
   * `snapshot` is called when it is time to compact.
   */
  append(changes: readonly JournalChange[], onDurable: () => void, snapshot: () => ComponentDocs): void {
    if (this.closed) return;
    const n = ++this.position;
    const line = `${JSON.stringify({ n, c: changes })}\n`;
    const compact = ++this.sinceSnapshot >= (this.options.compactEvery ?? 5000);
    // The state is captured now, with this line applied; it is written after the line.
    const state = compact ? JSON.stringify(snapshot()) : '';
    if (compact) this.sinceSnapshot = 0;
    this.chain = this.chain
      .then(async () => {
        await this.file.write(line);
        if (this.options.fsync) await this.file.datasync();
        if (compact) await this.compact(state, n);
        onDurable();
      })
      .catch((err: unknown) => {
        process.stderr.write(
          `lightning: cannot write the journal in ${this.dir}: ${(err as Error).message}\n`,
        );
      });
  }

  private async compact(state: string, upTo: number): Promise<void> {
    const step = this.options.onCompactionStep;
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const tmpFile = await open(tmp, 'w', 0o600);
    try {
      await tmpFile.write(`{"journalSnapshot":${SNAPSHOT_VERSION},"upTo":${upTo},"docs":${state}}`);
      if (this.options.fsync) await tmpFile.sync();
    } finally {
      await tmpFile.close();
    }
    step?.('snapshot-written');
    await rename(tmp, join(this.dir, SNAPSHOT));
    if (this.options.fsync) await syncDir(this.dir);
    step?.('snapshot-renamed');
    // Everything in the journal is at or below upTo now: emptying it only saves replay time.
    await this.file.truncate(0);
    step?.('journal-truncated');
  }

  /** Resolves once every change appended so far is written. */
  async whenWritten(): Promise<void> {
    await this.chain;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await this.file.close();
  }
}

async function readSnapshot(dir: string): Promise<{ docs: ComponentDocs; upTo: number } | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, SNAPSHOT), 'utf8'));
  } catch {
    return null;
  }
  const v = parsed as { journalSnapshot?: unknown; upTo?: unknown; docs?: unknown };
  if (v?.journalSnapshot === SNAPSHOT_VERSION && typeof v.upTo === 'number') {
    return { docs: toStateValue(v.docs) as ComponentDocs, upTo: v.upTo };
  }
  // A snapshot from before positions: it covers no line (that journal restarted at 1).
  return { docs: toStateValue(parsed) as ComponentDocs, upTo: 0 };
}

/** Where a resumed journal goes on: last position, lines since the snapshot, bytes to keep. */
async function scan(dir: string): Promise<{ position: number; sinceSnapshot: number; validBytes: number }> {
  const upTo = (await readSnapshot(dir))?.upTo ?? 0;
  let text: string;
  try {
    text = await readFile(join(dir, JOURNAL), 'utf8');
  } catch {
    return { position: upTo, sinceSnapshot: 0, validBytes: 0 };
  }
  let position = upTo;
  let sinceSnapshot = 0;
  let validBytes = 0;
  let start = 0;
  for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim()) {
      let n: unknown;
      try {
        n = (JSON.parse(line) as { n?: unknown }).n;
      } catch {
        break; // a torn line: it and anything after it are cut
      }
      if (typeof n === 'number' && n > upTo) {
        position = Math.max(position, n);
        sinceSnapshot++;
      }
    }
    validBytes += Buffer.byteLength(line) + 1;
  }
  return { position, sinceSnapshot, validBytes };
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
