import {
  closeSync,
  opendirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  statSync,
} from "node:fs";
import { decodeUtf8Escaped } from "./bytes.ts";
import { isVanished } from "./errors.ts";

/**
 * Small readers for /proc that treat a vanished or forbidden entry as "no answer" (undefined) rather
 * than an error: processes and sockets disappear between two reads all the time. Anything else is a
 * real fault and is thrown. Synchronous on purpose: procfs reads never block on I/O, and a tick is
 * cheaper as a straight run of syscalls than as thread-pool round trips.
 */

export const PROC = process.env.SSH_OUTBOUND_PROC_ROOT ?? "/proc";

/**
 * Faults reading one process's files (EIO, EISDIR, EMFILE: not "it is gone"), by errno code. Such a
 * read answers undefined, like a vanished process, and is counted here: one odd process must not
 * blind the whole tick. A namespace's socket table is different: see `isPidScoped`.
 */
export const pidReadFaults = new Map<string, number>();

/** All of them, whatever the code: what a source's stats say (`pid_read_faults`). */
export function pidReadFaultCount(): number {
  let n = 0;
  for (const c of pidReadFaults.values()) n += c;
  return n;
}

/**
 * Files of one process, except its network tables: /proc/PID/net/tcp answers for a whole namespace,
 * and a tick that could not read it knows nothing (its sockets must not be taken as closed).
 */
function isPidScoped(path: string): boolean {
  if (!path.startsWith(`${PROC}/`)) return false;
  const c = path.charCodeAt(PROC.length + 1);
  return c >= 48 && c <= 57 && !path.includes("/net/");
}

/** A read error: undefined when the thing vanished, or when it is one process's file (counted); else thrown. */
function tolerate(path: string, error: unknown): undefined {
  if (isVanished(error)) return undefined;
  if (isPidScoped(path)) {
    const code = (error as NodeJS.ErrnoException).code ?? "EUNKNOWN";
    pidReadFaults.set(code, (pidReadFaults.get(code) ?? 0) + 1);
    return undefined;
  }
  throw error;
}

/**
 * One buffer for every read: /proc files report size 0, so readFileSync allocates 64 KiB per call to
 * read a few bytes, and a tick of the procfs source reads hundreds of small files (schedstat, comm).
 * That garbage grew the daemon's RSS by 30 MB on a loaded host.
 */
const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/** `read` on `path`, or undefined when it vanished or is one process's unreadable file (see tolerate). */
function tolerant<T>(path: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    return tolerate(path, error);
  }
}

/** `read` on the file at `path` opened for reading, closed after it; undefined as in `tolerant`. */
function withFile<T>(path: string, read: (fd: number) => T): T | undefined {
  const fd = tolerant(path, () => openSync(path, "r"));
  if (fd === undefined) return undefined;
  try {
    return tolerant(path, () => read(fd));
  } finally {
    closeSync(fd);
  }
}

export function readText(path: string): string | undefined {
  return withFile(path, (fd) => {
    let len = 0;
    let chunks: Buffer[] | undefined;
    for (;;) {
      const n = readSync(fd, SCRATCH, len, SCRATCH.length - len, null);
      if (n === 0) break;
      len += n;
      if (len === SCRATCH.length) {
        // A large file (/proc/net/tcp on a busy host): keep what we have and go on.
        chunks ??= [];
        chunks.push(Buffer.from(SCRATCH));
        len = 0;
      }
    }
    if (!chunks) return SCRATCH.toString("latin1", 0, len);
    chunks.push(Buffer.from(SCRATCH.subarray(0, len)));
    return Buffer.concat(chunks).toString("latin1");
  });
}

export function readBytes(path: string): Buffer | undefined {
  return tolerant(path, () => readFileSync(path));
}

/**
 * The first `max` bytes of a file and its whole size, reading the rest into the scratch buffer and
 * counting it: what we keep is bounded whatever the file holds (an argv of megabytes), and the size
 * still tells the reader how much was cut (and `nulsAfter`, the NUL bytes past the kept part, how many
 * NUL-separated strings). Undefined when it vanished, as readText.
 */
export function readBounded(
  path: string,
  max: number,
): { bytes: Buffer; total: number; nulsAfter: number } | undefined {
  return withFile(path, (fd) => {
    // Read into the shared scratch buffer when it is large enough; only what was read is copied out.
    const into = max <= SCRATCH.length ? SCRATCH : Buffer.allocUnsafe(max);
    let len = 0;
    while (len < max) {
      const n = readSync(fd, into, len, max - len, null);
      if (n === 0) return { bytes: Buffer.from(into.subarray(0, len)), total: len, nulsAfter: 0 };
      len += n;
    }
    const kept = Buffer.from(into.subarray(0, len));
    let total = len;
    let nulsAfter = 0;
    for (;;) {
      const n = readSync(fd, SCRATCH, 0, SCRATCH.length, null);
      if (n === 0) break;
      total += n;
      for (let at = SCRATCH.indexOf(0); at >= 0 && at < n; at = SCRATCH.indexOf(0, at + 1)) nulsAfter++;
    }
    return { bytes: kept, total, nulsAfter };
  });
}

export function readLink(path: string): string | undefined {
  return tolerant(path, () => readlinkSync(path));
}

/** Entries of a directory, or undefined when it is gone or not ours to read (EACCES is reported). */
export function listDir(path: string): { names?: string[]; denied: boolean } {
  try {
    return { names: readdirSync(path), denied: false };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return { denied: true };
    tolerate(path, error);
    return { denied: false };
  }
}

/**
 * The first `max` entries of a directory (in the order the kernel lists them: numeric for
 * /proc/PID/fd), read no further. None when it is gone or not ours to read.
 */
function firstEntries(path: string, max: number): string[] {
  let dir: ReturnType<typeof opendirSync>;
  try {
    dir = opendirSync(path, { bufferSize: Math.min(max, 1024) });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return [];
    tolerate(path, error);
    return [];
  }
  const out: string[] = [];
  try {
    for (let e = dir.readSync(); e !== null && out.length < max; e = dir.readSync()) out.push(e.name);
  } catch (error) {
    tolerate(path, error);
  } finally {
    dir.closeSync();
  }
  return out;
}

/**
 * What a process's first `max` descriptors point to, in numeric order (undefined for one closed
 * between the listing and its link's read). A listing of /proc/PID/fd has the kernel make an entry for every descriptor that fits
 * the C library's 32 KiB buffer (about 1,300) however few are read: 0.45 ms for a process holding
 * 5,000, at every tick for a process named like a client (issue 19). So a process holding more than
 * `max` (the directory's size is its count since Linux 6.2; 0 before, and then it is listed) has its
 * descriptors read by number, from 0, trying at most 2 × `max` numbers.
 */
export function fdLinks(pid: number, max: number): (string | undefined)[] {
  const dir = `${PROC}/${pid}/fd`;
  let count: number;
  try {
    count = statSync(dir).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") tolerate(dir, error);
    return [];
  }
  if (count <= max) return firstEntries(dir, max).map((name) => readLink(`${dir}/${name}`));
  const out: string[] = [];
  for (let fd = 0; fd < 2 * max && out.length < max; fd++) {
    const path = `${dir}/${fd}`;
    try {
      out.push(readlinkSync(path));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue; // not open (or the process is gone: bounded all the same)
      if (code !== "EACCES" && code !== "EPERM") tolerate(path, error);
      break; // not ours to read
    }
  }
  return out;
}

/** Numeric entries of /proc: the pids alive at the moment of the read. */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(PROC)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/** `socket:[12345]` → 12345; anything else → undefined. */
export function socketInode(link: string | undefined): number | undefined {
  if (link === undefined || !link.startsWith("socket:[")) return undefined;
  return Number(link.slice(8, -1));
}

/**
 * Descriptor links read per process at most: an SSH client holds a handful, and a process named like
 * one that holds thousands must not cost thousands of reads each time it is looked at (issue 19).
 */
export const FD_LINKS_MAX = 1024;

/** The inodes of the sockets a process holds (its first `max` /proc/PID/fd links); none when it is gone. */
export function socketInodes(pid: number, max = FD_LINKS_MAX): number[] {
  const out: number[] = [];
  for (const link of fdLinks(pid, max)) {
    const ino = socketInode(link);
    if (ino !== undefined) out.push(ino);
  }
  return out;
}

/** `net:[4026531840]` → 4026531840. */
export function nsInode(link: string | undefined): number | undefined {
  if (link === undefined) return undefined;
  const open = link.indexOf("[");
  return open < 0 ? undefined : Number(link.slice(open + 1, -1));
}

/** A process's name (/proc/PID/comm), or undefined when it is gone. */
export function readComm(pid: number): string | undefined {
  return readText(`${PROC}/${pid}/comm`)?.trimEnd();
}

export interface StatLine {
  comm: string;
  /** R, S, D, … Z for a zombie: exited, its argv and executable gone, only its pid and name left. */
  state: string;
  ppid: number;
  /** The POSIX session (field 6): the pid of its leader (setsid), e.g. a login shell or tmux's shell. */
  sid: number;
  startTicks: number;
}

/** /proc/PID/stat: the name sits in parentheses and may itself hold ")" or spaces; split after the last ")". */
export function parseStat(text: string): StatLine | undefined {
  const close = text.lastIndexOf(")");
  const open = text.indexOf("(");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); ppid is field 4, session field 6, starttime field 22.
  const ppid = Number(rest[1]);
  const sid = Number(rest[3]);
  const startTicks = Number(rest[19]);
  if (Number.isNaN(ppid) || Number.isNaN(sid) || Number.isNaN(startTicks)) return undefined;
  return { comm: text.slice(open + 1, close), state: rest[0] ?? "", ppid, sid, startTicks };
}

export function readStat(pid: number): StatLine | undefined {
  // The name may hold any bytes but NUL and is at most 15 of them: decode it losslessly too. Read
  // into the scratch buffer (a stat line is a few hundred bytes; readFileSync would allocate 64 KiB
  // for each of the several stat reads a connection's ancestry costs).
  const read = readBounded(`${PROC}/${pid}/stat`, 4096);
  return read === undefined ? undefined : parseStat(decodeUtf8Escaped(read.bytes));
}
