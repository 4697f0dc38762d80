/**
 * Runs code against a LocalDrive in separate processes, as two daemons (or a daemon and a
 * user's tool) would: cross-process races are what the local Drive's atomic writes and key
 * locks are for, and one process cannot race itself.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const DRIVE_MODULE = new URL('../../daemon/drive/local-drive.ts', import.meta.url).href;
const TSX = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;

/**
 * Writes a script into `dir` that opens the LocalDrive at `root` as `d` and runs `body`
 * (top-level await; its argument is `process.argv[2]`). Returns a function that runs it in a
 * new process with one argument and resolves with what it printed, trimmed.
 */
export async function localDriveProcess(
  dir: string,
  root: string,
  body: string,
): Promise<(arg: string) => Promise<string>> {
  const script = join(dir, 'drive-process.mts');
  await writeFile(
    script,
    `import { LocalDrive } from ${JSON.stringify(DRIVE_MODULE)};\nconst d = new LocalDrive(${JSON.stringify(root)});\n${body}\n`,
  );
  return (arg) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(TSX, [script, arg], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.on('error', reject);
      child.on('close', () => resolve(out.trim()));
    });
}
