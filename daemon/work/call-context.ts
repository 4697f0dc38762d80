/**
 * What a call of a work gets besides its arguments (the `WorkContext` of `execute()`, and the
 * environment a ScriptWork's script starts with): its directory, port, Drive, logging, Path
 * fetches and Payloads, and the environment variables of the runtime contract (DESIGN §3.5).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Drive, TransferProgress } from '../../constructs/drive.ts';
import { type Path, Payload } from '../../constructs/path.ts';
import type { Work, WorkContext } from '../../constructs/work.ts';
import { RERUN_REASONS } from '../../constructs/work-status.ts';
import type { Run } from '../../proto/gen/lightning/v1/runtime_pb.ts';
import { fetchPath } from '../drive/path-transfer.ts';
import { toStateValue } from '../state/json-patch.ts';

/** Created in the work's directory when the VM gets a preemption notice ($LIGHTNING_PREEMPTED_FILE). */
export const PREEMPTED_FILE = '.lightning-preempted';

/** What the daemon gives every call of its work. */
export interface CallContextSource {
  readonly work: Work;
  readonly workDir: string;
  readonly appDir: string;
  readonly drive: Drive;
  /** The app's environment for its works (`run --env`). */
  readonly env: Readonly<Record<string, string>>;
  /** The daemon's state endpoint ($LIGHTNING_STATE_URL) and its token. */
  readonly stateUrl: string;
  readonly stateToken: string;
  /** The address other machines reach this work's servers at. */
  readonly urlHost: string;
  readonly log: (line: string) => void;
  /** Reports a transfer's progress in state and logs; `finish()` once it is done. */
  readonly transferProgress: () => { onProgress: (p: TransferProgress) => void; finish(): void };
}

/** The port a call serves on: the declared one, a free one for `'auto'`, or none. */
export async function portFor(work: Work): Promise<number | undefined> {
  const p = work.servesPort;
  if (p === undefined) return undefined;
  if (p !== 'auto') return p;
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The context of one call. */
export function callContext(
  source: CallContextSource,
  call: {
    readonly signal: AbortSignal;
    readonly port: number | undefined;
    readonly run: Run;
    readonly resumeFrom?: string;
  },
): WorkContext {
  const { drive, work, workDir, log } = source;
  const { signal, port, run, resumeFrom } = call;
  const rerun = RERUN_REASONS.find((r) => r === run.rerun) ?? null;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env.LIGHTNING_TOKEN; // the app token is the daemon's, never the script's
  Object.assign(env, source.env, work.props.env ?? {}, {
    LIGHTNING_STATE_URL: source.stateUrl,
    LIGHTNING_STATE_TOKEN: source.stateToken,
    LIGHTNING_WORK_NAME: work.name,
    LIGHTNING_WORK_DIR: workDir,
    LIGHTNING_DRIVE_URL: drive.url,
    // Calls are at-least-once (ADR 0020): a script that must not repeat a side effect
    // checks these. LIGHTNING_RERUN is empty on a call's first run.
    LIGHTNING_ATTEMPT: String(run.attempt),
    LIGHTNING_RERUN: rerun ?? '',
    // Appears when the VM gets a preemption notice (a running process's env cannot change).
    LIGHTNING_PREEMPTED_FILE: join(workDir, PREEMPTED_FILE),
  });
  if (resumeFrom) env.LIGHTNING_RESUME_FROM = resumeFrom;
  if (port !== undefined) {
    env.PORT = String(port);
    env.LIGHTNING_PORT = String(port);
    // The host other machines reach this work's servers at (its url names it): a Work that
    // publishes its own URL builds it from this, never from the bind address LIGHTNING_HOST.
    env.LIGHTNING_ADVERTISE_HOST = source.urlHost;
  }
  return {
    signal,
    attempt: run.attempt,
    rerun,
    ...(resumeFrom ? { resumeFrom } : {}),
    workDir,
    appDir: source.appDir,
    port,
    drive,
    env,
    log,
    fetch: async (path: Path, dest?: string) => {
      const target = join(workDir, dest ?? path.basename);
      log(`fetching ${path.key} (from ${path.origin}) → ${dest ?? path.basename}`);
      const progress = source.transferProgress();
      const local = await fetchPath(drive, path, target, progress.onProgress);
      progress.finish();
      return local;
    },
    putPayload: async (name: string, value: unknown) => {
      const key = `works/${work.name}/payloads/${name}.json`;
      await drive.put(key, Buffer.from(JSON.stringify(toStateValue(value, name))));
      return new Payload(drive.name, key, work.name);
    },
    loadPayload: async <T>(payload: Payload) => {
      const p = Payload.isPayloadJson(payload) ? Payload.fromJSON(payload) : payload;
      return JSON.parse((await drive.read(p.key)).toString('utf8')) as T;
    },
  };
}
