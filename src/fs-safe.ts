import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/**
 * File-system helpers for the files a root daemon writes (log, state, pid): nothing follows a symlink
 * planted at the path, nothing blocks on a FIFO planted there, and directory creation is bounded.
 */

// Node and Bun open every descriptor with O_CLOEXEC already.
const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_EXCL } = constants;

export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    what: string,
  ) {
    super(`${path}: ${what}`);
  }
}

/**
 * Creates the missing directories above `path`, each with `mode` (set explicitly, so the umask does not
 * widen or narrow it). One mkdir per missing component, from the top down: Node's recursive mkdirSync
 * loops for ever on ENOENT inside /proc, where a directory can be "missing" and uncreatable at once.
 */
export function ensureDir(dir: string, mode = 0o750): void {
  const missing: string[] = [];
  let d = dir;
  for (;;) {
    try {
      if (!statSync(d).isDirectory()) throw new UnsafePathError(d, "ENOTDIR", "is not a directory");
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m, { mode });
      chmodSync(m, mode);
    } catch (error) {
      // Another writer made it between our stat and mkdir: fine.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/**
 * Opens `path` for appending without following a symlink at its last component (ELOOP) and without
 * blocking on a FIFO; anything but a regular file is refused. Created files get `mode`.
 */
export function openAppend(path: string, mode = 0o640): number {
  const fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new UnsafePathError(path, "ENOTREG", "is not a regular file");
  }
  return fd;
}

/**
 * Replaces `path` with `data` atomically: a new file beside it (O_EXCL, so nothing planted is
 * reused), written and fsynced, then renamed over the path. A symlink at the path is replaced, never
 * followed, so a planted link cannot redirect the write. Returns the new file's inode.
 */
export function replaceFile(path: string, data: string, mode = 0o644): number {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    unlinkSync(tmp);
  } catch {
    // none left over: the usual case
  }
  const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    const buf = Buffer.from(data);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(tmp);
    throw error;
  }
  const { ino } = fstatSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  return ino;
}

/** Removes `path` if it is still the file we wrote (same inode), so a replaced file is left alone. */
export function removeIfOurs(path: string, ino: number | undefined): void {
  try {
    if (ino === undefined || lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    // already gone
  }
}
