// Atomic file writes for every layer: write a temp file next to the target, then rename,
// so a crash or Ctrl-C never leaves a half-written checkpoint, manifest, image or report.
import type { Dirent } from 'node:fs';
import { mkdir, readdir, rename, writeFile, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

let counter = 0;
function tempName(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${counter++}.tmp`);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempName(target);
  try {
    await writeFile(tmp, data);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

// Temporaries a process killed mid-write leaves behind: files from writeFileAtomic
// (`.NAME.PID.N.tmp`) and folders from a checkpoint swap (`NAME.tmp-PID`). The PID in the
// name tells whether the writer is still alive; only those of dead processes are removed.
const STALE_FILE = /^\..+\.(\d+)\.\d+\.tmp$/;
const STALE_DIR = /^.+\.tmp-(\d+)$/;

/** Whether a process with this id exists (EPERM: it does, under another user). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporaries of dead writers directly in `dir`; returns what it removed. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return []; // no folder yet: nothing left over
  }
  const removed: string[] = [];
  for (const e of entries) {
    const m = (e.isDirectory() ? STALE_DIR : e.isFile() ? STALE_FILE : null)?.exec(e.name);
    if (!m || pidAlive(Number(m[1]))) continue;
    await rm(join(dir, e.name), { recursive: true, force: true });
    removed.push(join(dir, e.name));
  }
  return removed;
}
