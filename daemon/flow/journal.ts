/**
 * The flow's journal (DESIGN §3.3): every change the loop applies is appended here before it
 * is acknowledged, so a restarted flow (`--resume`) comes back with the same state, and
 * daemons that kept running re-attach without restarting their scripts.
 *
 * Format: `journal.jsonl`, one line per loop drain: `{"n":<line>,"c":[[component, ops], …]}`,
 * where each component's document is `{vars, status?, call?, daemon?}` and ops are RFC 6902
 * against it. Every `compactEvery` lines the whole state is written to `snapshot.json`
 * (temp file + rename) and the journal starts over, so replay stays short. A torn last line
 * (the flow died mid-write) is ignored on load. Lines are written with write(2), not fsync'd:
 * this survives the flow process dying, not the machine losing power.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { JsonValue } from '../../constructs/json.ts';
import { applyPatch, type PatchOperation, toStateValue } from '../state/json-patch.ts';

export type ComponentDocs = Record<string, Record<string, JsonValue>>;
export type JournalChange = readonly [component: string, ops: readonly PatchOperation[]];

export interface JournalOptions {
  /** Lines between snapshots. @default 5000 */
  readonly compactEvery?: number;
}

export class Journal {
  private lines = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private file: FileHandle,
    private readonly compactEvery: number,
  ) {}

  /** Opens the journal in `dir`; `fresh` discards what an earlier run left there. */
  static async open(dir: string, fresh: boolean, options: JournalOptions = {}): Promise<Journal> {
    await mkdir(dir, { recursive: true });
    if (fresh) {
      await rm(join(dir, 'journal.jsonl'), { force: true });
      await rm(join(dir, 'snapshot.json'), { force: true });
    }
    const file = await open(join(dir, 'journal.jsonl'), 'a');
    return new Journal(dir, file, options.compactEvery ?? 5000);
  }

  /** Reads the state a journal holds (snapshot + replayed lines), or null if there is none. */
  static async load(dir: string): Promise<ComponentDocs | null> {
    let docs: ComponentDocs | null = null;
    try {
      docs = toStateValue(JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8'))) as ComponentDocs;
    } catch {
      docs = null;
    }
    let lines: AsyncIterable<string>;
    try {
      const stream = createReadStream(join(dir, 'journal.jsonl'), 'utf8');
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
      let record: { c: [string, PatchOperation[]][] };
      try {
        record = JSON.parse(line);
      } catch {
        break; // torn last line
      }
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
    const line = `${JSON.stringify({ n: ++this.lines, c: changes })}\n`;
    const compact = this.lines >= this.compactEvery;
    const state = compact ? JSON.stringify(snapshot()) : '';
    if (compact) this.lines = 0;
    this.chain = this.chain
      .then(async () => {
        await this.file.write(line);
        if (compact) await this.compact(state);
        onDurable();
      })
      .catch((err: unknown) => {
        process.stderr.write(
          `lightning: cannot write the journal in ${this.dir}: ${(err as Error).message}\n`,
        );
      });
  }

  private async compact(state: string): Promise<void> {
    const tmp = join(this.dir, 'snapshot.json.tmp');
    await writeFile(tmp, state);
    await rename(tmp, join(this.dir, 'snapshot.json'));
    await this.file.close();
    this.file = await open(join(this.dir, 'journal.jsonl'), 'w');
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
