// What a path a data source lists really is, following symbolic links, and why it cannot be
// used when it cannot: a dangling link, a link loop, a FIFO (reading it would block for ever)
// become one-line reasons that `--on-error` skips or reports, never a raw ENOENT/ELOOP.
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { errorMessage } from '../util/errorMessage.js';

type PathKind = 'file' | 'dir' | 'other';

type Probe = { ok: true; kind: PathKind; link: boolean } | { ok: false; reason: string };

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** stat() that follows links and never throws. */
export function probePath(path: string): Probe {
  try {
    const st = statSync(path);
    return { ok: true, kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', link: isLink(path) };
  } catch (err) {
    return { ok: false, reason: unreadableReason(path, err) };
  }
}

/** The reason an fs call on `path` failed, in words (symlink problems named as such). */
export function unreadableReason(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ELOOP':
      return 'symbolic link loop (too many levels of links)';
    case 'ENOENT':
      if (isLink(path)) {
        let target = '?';
        try {
          target = readlinkSync(path);
        } catch {
          /* keep '?' */
        }
        return `dangling symbolic link (its target ${target} does not exist)`;
      }
      return 'not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a folder on its path is not a folder';
    case 'ENAMETOOLONG':
      return 'path too long';
    default:
      return `cannot read (${errorMessage(err, { firstLine: true })})`;
  }
}

/** Why `path` is not usable as an image file, or null when it is a regular file. */
export function notAFile(path: string): string | null {
  const p = probePath(path);
  if (!p.ok) return p.reason;
  if (p.kind === 'dir') return 'is a folder, not a file';
  if (p.kind === 'other') return 'not a regular file (device, FIFO or socket)';
  return null;
}
