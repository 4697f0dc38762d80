/**
 * Helpers of the process-tree tests: a Python job that records every instance it starts
 * (and whether an earlier instance was still alive then), and /proc checks.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, processesWith } from '../support/app-fixture.ts';

/**
 * A job script: appends its pid to runs.txt, notes in overlaps.txt any earlier instance still
 * alive at its start, optionally starts a helper in a new session (setsid, like a daemonizing
 * server), then sleeps or exits. `marker` is on the helper's command line.
 */
export function jobScript(opts: {
  marker: string;
  helper?: 'sleep' | 'ignore-term';
  exitAfterHelper?: boolean;
}): string {
  return `
import os, pathlib, signal, subprocess, sys, time
here = pathlib.Path(__file__).parent
tag = sys.argv[1] if len(sys.argv) > 1 else ""
def alive(pid):
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
runs = here / f"runs{tag}.txt"
earlier = runs.read_text().split() if runs.exists() else []
still = [p for p in earlier if alive(int(p))]
if still:
    with open(here / f"overlaps{tag}.txt", "a") as f:
        f.write(f"{os.getpid()} started while {' '.join(still)} still ran\\n")
with open(runs, "a") as f:
    f.write(f"{os.getpid()}\\n")
helper = ${JSON.stringify(opts.helper ?? '')}
if helper:
    code = "import signal, time\\n"
    if helper == "ignore-term":
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    code += "time.sleep(300)\\n"
    # Its own session: not in the script's process group, out of reach of a group kill.
    subprocess.Popen([sys.executable, "-c", code, ${JSON.stringify(opts.marker)}], start_new_session=True)
print("job started", flush=True)
if ${opts.exitAfterHelper ? 'True' : 'False'}:
    sys.exit(0)
time.sleep(300)
`;
}

/** The pids job instances recorded in runs.txt (runs<tag>.txt for a job started with a tag argument). */
export async function jobRuns(dir: string, tag = ''): Promise<number[]> {
  const text = await readFile(join(dir, `runs${tag}.txt`), 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** Lines of overlaps.txt: instances that started while an earlier one still ran. */
export async function jobOverlaps(dir: string, tag = ''): Promise<string[]> {
  const text = await readFile(join(dir, `overlaps${tag}.txt`), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

/** True while `pid` exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits until no process has `marker` on its command line (a stopped tree takes a moment to
 * be reaped) and returns what is left then: empty, or the pids still there after `ms`.
 */
export function processesLeft(marker: string, ms = 10_000): Promise<number[]> {
  return eventually(
    () => processesWith(marker),
    (p) => p.length === 0,
    ms,
  );
}
