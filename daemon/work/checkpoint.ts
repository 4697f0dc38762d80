/**
 * A work's checkpoint between attempts of one call (WorkProps.checkpoint): saved to the Drive
 * when an attempt ends without success (a preemption notice, a crash, a timeout), restored
 * into the work's directory before the next attempt of the same call, deleted once the call
 * succeeds. The Drive key names the call (its argument hash), so a checkpoint never leaks into
 * a call with other arguments, and it survives the VM: a preempted VM's next boot, or another
 * VM, finds it in the bucket.
 */
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Drive } from '../../constructs/drive.ts';
import { validateKey } from '../../constructs/drive-key.ts';

/** The Drive key of `work`'s checkpoint for the call with argument hash `callHash`. */
export function checkpointKey(work: string, callHash: string, file: string): string {
  return validateKey(`works/${work}/checkpoints/${callHash}/${file}`);
}

export interface CheckpointSlot {
  readonly drive: Drive;
  readonly work: string;
  readonly workDir: string;
  /** WorkProps.checkpoint: the file, relative to workDir. */
  readonly file: string;
}

/**
 * Puts the saved checkpoint of this call (if any) at its place in the work's directory and
 * returns that path; undefined when there is none (the call starts from scratch). A copy, not
 * a link: the script may overwrite the file in place, which must not change the saved one.
 */
export async function restoreCheckpoint(slot: CheckpointSlot, callHash: string): Promise<string | undefined> {
  const key = checkpointKey(slot.work, callHash, slot.file);
  const local = join(slot.workDir, slot.file);
  if (!(await slot.drive.exists(key))) {
    // A file left by an attempt of another call (same disk after a restart) is not this call's.
    await rm(local, { force: true });
    return undefined;
  }
  const staging = join(slot.workDir, '.lightning-checkpoint-restore', slot.file);
  await mkdir(dirname(staging), { recursive: true });
  await slot.drive.get(key, staging);
  await mkdir(dirname(local), { recursive: true });
  await copyFile(staging, local);
  await rm(join(slot.workDir, '.lightning-checkpoint-restore'), { recursive: true, force: true });
  return local;
}

/** Saves the checkpoint file to the Drive if the attempt wrote one; returns its key, or undefined. */
export async function saveCheckpoint(slot: CheckpointSlot, callHash: string): Promise<string | undefined> {
  const local = join(slot.workDir, slot.file);
  const st = await stat(local).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const key = checkpointKey(slot.work, callHash, slot.file);
  await slot.drive.put(key, local);
  return key;
}

/** The call succeeded: its checkpoint is of no further use. */
export async function dropCheckpoint(slot: CheckpointSlot, callHash: string): Promise<void> {
  await slot.drive.delete(checkpointKey(slot.work, callHash, slot.file));
}
