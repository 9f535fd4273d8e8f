import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomType } from "sonic-boom";
import { ensureDir, openAppend } from "../fs-safe.ts";

// sonic-boom is CommonJS: Node's ESM loader exposes only its default export, which carries the class.
const SonicBoom = (sonicBoom as unknown as { SonicBoom: new (o: SonicBoomOpts) => SonicBoomType }).SonicBoom;

/**
 * Where lines physically go. `write` puts one whole line or throws, and after a throw the destination
 * holds no part of that line, so the caller can keep it and write it again later, exactly once.
 */
export interface Writer {
  readonly what: string;
  write(line: string): void;
  /** True when the destination should be opened again (the file was removed or replaced). */
  stale(): boolean;
  reopen(): void;
  close(): void;
}

/**
 * One sonic-boom per descriptor, in sync mode (a line is in the kernel when write returns), no
 * maxLength (sonic-boom drops data past it). On a failed write sonic-boom keeps the unwritten rest of
 * the line in its private buffer and would write it first next time, into whatever file is open then;
 * we hold the whole line ourselves instead, so that instance is dropped and a new one made.
 */
function boomOn(fd: number): { boom: SonicBoomType; error: () => Error | undefined; clear(): void } {
  const boom = new SonicBoom({ fd, sync: true });
  let last: Error | undefined;
  boom.on("error", (e: Error) => {
    last = e;
  });
  return {
    boom,
    error: () => last,
    clear: () => {
      last = undefined;
    },
  };
}

/**
 * The log file: opened without following a symlink at its path, its directory created 0750 when
 * missing, a last line left cut by an earlier crash ended before anything new is written, and a
 * partial write (ENOSPC in the middle of a line) cut back so the file never holds half a record.
 */
export class FileWriter implements Writer {
  private fd: number | undefined;
  private ino = -1;
  private dev = -1;
  private out: ReturnType<typeof boomOn> | undefined;

  constructor(readonly path: string) {}

  get what(): string {
    return this.path;
  }

  /** Opens (or creates) the file now; throws what the open threw. */
  open(): void {
    this.close();
    ensureDir(dirname(this.path));
    const fd = openAppend(this.path);
    try {
      const st = fstatSync(fd);
      if (st.size > 0 && lastByte(this.path, st.size) !== 0x0a) writeSync(fd, "\n");
      this.ino = st.ino;
      this.dev = st.dev;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.fd = fd;
    this.out = boomOn(fd);
  }

  write(line: string): void {
    if (this.fd === undefined || !this.out) this.open();
    const fd = this.fd as number;
    const out = this.out as ReturnType<typeof boomOn>;
    const before = fstatSync(fd).size;
    out.clear();
    out.boom.write(line);
    const failed = out.error();
    if (failed) {
      try {
        ftruncateSync(fd, before);
      } catch {
        // EIO: the device may refuse this too; the line is held either way
      }
      this.drop();
      throw failed;
    }
    // Removed (rm) while open: the line went into an inode nobody can read. Write it again, once,
    // into a new file at the path.
    if (fstatSync(fd).nlink === 0) {
      this.open();
      this.write(line);
    }
  }

  stale(): boolean {
    if (this.fd === undefined) return true;
    try {
      const st = lstatSync(this.path);
      return st.ino !== this.ino || st.dev !== this.dev;
    } catch {
      return true;
    }
  }

  reopen(): void {
    this.open();
  }

  close(): void {
    const out = this.out;
    this.out = undefined;
    this.fd = undefined;
    if (!out) return;
    try {
      out.boom.flushSync();
    } catch {
      // nothing buffered can be left: every write is synchronous and a failed one is dropped
    }
    out.boom.end();
  }

  /** Forgets the descriptor after a failed write; sonic-boom's copy of the rest of the line goes with it. */
  private drop(): void {
    const out = this.out;
    this.out = undefined;
    this.fd = undefined;
    out?.boom.destroy();
  }
}

function lastByte(path: string, size: number): number | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const b = Buffer.alloc(1);
    return readSync(fd, b, 0, 1, size - 1) === 1 ? b[0] : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Standard output: never reopened; a failed write is held and retried like a file's. */
export class StdoutWriter implements Writer {
  readonly what = "standard output";
  private out = boomOn(1);

  write(line: string): void {
    this.out.clear();
    this.out.boom.write(line);
    const failed = this.out.error();
    if (failed) {
      // Held and written again whole; the instance that kept the unwritten rest is left behind (not
      // destroyed: that would close descriptor 1).
      this.out = boomOn(1);
      throw failed;
    }
  }

  stale(): boolean {
    return false;
  }

  reopen(): void {}

  close(): void {
    try {
      this.out.boom.flushSync();
    } catch {
      // the reader is gone
    }
  }
}
