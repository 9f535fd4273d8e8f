import { decodeUtf8Escaped } from "../bytes.ts";
import { PROC, readBounded, readLink, readText, type StatLine } from "../proc-io.ts";
import type { KeptExec } from "../sources/types.ts";

export { parseStat, readStat, type StatLine } from "../proc-io.ts";

/** What /proc tells about one process, read while it lives. */
export interface ProcessFacts {
  pid: number;
  ppid: number;
  name: string;
  executable?: string;
  /** The executable's file was deleted or replaced after exec (the kernel's " (deleted)" mark). */
  executableDeleted?: boolean;
  /** At most ARGV_READ_MAX bytes of the argv: the last argument may be cut (see argsBytes). */
  args: string[];
  /** The whole argv's size in bytes (each argument with its NUL) and its count, when more than was read. */
  argsBytes?: number;
  argsCount?: number;
  /** Start time as ns since the epoch. */
  startNs: bigint;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22), as the kernel gives it. */
  startTicks: number;
  /** Real uid (who started it) and effective uid (whose rights it uses). */
  uid: number;
  euid: number;
  /** The POSIX session it belongs to (the pid of its leader). */
  sid?: number;
  /**
   * The login it belongs to, as the kernel's audit keeps it: the uid pam_loginuid set at login
   * (/proc/PID/loginuid, kept across sudo, su and setuid) and the login's session number
   * (/proc/PID/sessionid). Absent for a process of no login (a service, or on a kernel without audit).
   */
  loginUid?: number;
  auditSession?: number;
  /** Its cgroup v2 path (or the systemd hierarchy's on cgroup v1): its unit, its container. */
  cgroup?: string;
}

/** The kernel's "not set" for a loginuid or an audit session id ((u32)-1). */
const UNSET = 4294967295;

/** A loginuid or sessionid file's number, undefined when unset or unreadable. */
export function auditId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return n === UNSET ? undefined : n;
}

/** The cgroup file's unified (v2) path, else the name=systemd hierarchy's (cgroup v1). */
export function cgroupPath(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let v1: string | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3);
    const m = /^\d+:name=systemd:(.*)$/.exec(line);
    if (m) v1 = m[1];
  }
  return v1;
}

/** A cgroup file holds one line per hierarchy, each a path: a few KiB at most on any real host. */
const CGROUP_READ_MAX = 8192;

/**
 * Clock ticks per second for /proc/PID/stat times. sysconf(_SC_CLK_TCK) is not reachable from
 * JavaScript; USER_HZ is 100 on every architecture Linux supports in userspace ABI terms.
 */
const CLK_TCK = 100;

let bootNs: bigint | undefined;
function bootTimeNs(): bigint {
  if (bootNs === undefined) {
    const m = /^btime (\d+)$/m.exec(readText(`${PROC}/stat`) ?? "");
    bootNs = BigInt(m?.[1] ?? 0) * 1_000_000_000n;
  }
  return bootNs;
}

/**
 * How much of a process's argv is read: what the connecting process's record keeps (64 KiB). Linux
 * allows megabytes, chosen by whoever starts the process; reading, decoding, parsing and caching a
 * bounded prefix keeps every per-process cost bounded, and the whole size is still told.
 */
export const ARGV_READ_MAX = 64 * 1024;

/** NUL-separated argv; bytes that are not UTF-8 are kept (see decodeUtf8Escaped), never replaced. */
export function parseCmdline(buf: Buffer, cut = false): string[] {
  if (buf.length === 0) return [];
  const end = cut ? completeUtf8(buf) : buf[buf.length - 1] === 0 ? buf.length - 1 : buf.length;
  return trimTitlePadding(decodeUtf8Escaped(buf.subarray(0, end)).split("\0"));
}

/** The length of `buf` without a UTF-8 sequence that the read cut short at its end. */
function completeUtf8(buf: Buffer): number {
  for (let back = 1; back <= 3 && back <= buf.length; back++) {
    const b = buf[buf.length - back] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}

/**
 * Empty arguments at the end of an argv that a process rewrote with setproctitle (sshd's
 * "sshd: root [priv]", npm's "npm test"): the rest of the old argv area left as NULs. The sign of a
 * rewrite is a space in argv[0], which exec'd programs' paths almost never have; a real argv that
 * ends in "" (ssh host '') is left as it is.
 */
export function trimTitlePadding(args: string[]): string[] {
  if (args.length < 2 || !args[0]?.includes(" ") || args[args.length - 1] !== "") return args;
  let end = args.length;
  while (end > 1 && args[end - 1] === "") end--;
  return args.slice(0, end);
}

function parseUids(status: string): { uid: number; euid: number } | undefined {
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  return m ? { uid: Number(m[1]), euid: Number(m[2]) } : undefined;
}

/** Reads the stat, then the rest; undefined when the process is gone (a normal outcome). */
export function readProcessRest(pid: number, stat: StatLine): ProcessFacts | undefined {
  // An exited process not yet reaped reads as an empty argv: it is gone, not a process without one.
  if (stat.state === "Z" || stat.state === "X") return undefined;
  const status = readText(`${PROC}/${pid}/status`);
  const ids = status === undefined ? undefined : parseUids(status);
  const cmdline = readBounded(`${PROC}/${pid}/cmdline`, ARGV_READ_MAX);
  if (ids === undefined || cmdline === undefined) return undefined;
  const cut = cmdline.total > cmdline.bytes.length;
  const facts: ProcessFacts = {
    pid,
    ppid: stat.ppid,
    name: stat.comm,
    args: parseCmdline(cmdline.bytes, cut),
    startNs: bootTimeNs() + (BigInt(stat.startTicks) * 1_000_000_000n) / BigInt(CLK_TCK),
    startTicks: stat.startTicks,
    uid: ids.uid,
    euid: ids.euid,
    sid: stat.sid,
  };
  addLogin(facts, pid);
  // Only the owner or a privileged reader may follow exe; missing it is not an error.
  const exe = readLink(`${PROC}/${pid}/exe`);
  // No argv and no executable: a process caught in its exit, between releasing its memory and
  // becoming a zombie. Gone, like a zombie.
  if (cmdline.total === 0 && exe === undefined) return undefined;
  if (cut) {
    facts.argsBytes = cmdline.total;
    // The last argument read is cut: its NUL is among those after the kept part.
    facts.argsCount = facts.args.length - 1 + cmdline.nulsAfter;
  }
  if (exe !== undefined) {
    // The mark is kept as a fact of its own: a binary deleted after it started is a classic sign of
    // malware hiding its file. (A path really ending in " (deleted)" reads the same; the kernel gives
    // no other way to tell, and the record says both.)
    const deleted = exe.endsWith(" (deleted)");
    facts.executable = deleted ? exe.slice(0, -" (deleted)".length) : exe;
    if (deleted) facts.executableDeleted = true;
  }
  return facts;
}

/** The login and cgroup facts: three small reads, none of which a process can make large. */
function addLogin(facts: ProcessFacts, pid: number): void {
  const loginUid = auditId(readText(`${PROC}/${pid}/loginuid`));
  if (loginUid !== undefined) facts.loginUid = loginUid;
  const session = auditId(readText(`${PROC}/${pid}/sessionid`));
  if (session !== undefined) facts.auditSession = session;
  const cg = readBounded(`${PROC}/${pid}/cgroup`, CGROUP_READ_MAX);
  const path = cg === undefined ? undefined : cgroupPath(cg.bytes.toString("utf8"));
  if (path !== undefined) facts.cgroup = path;
}

/**
 * A process gone from /proc, as the eBPF probe kept it at its exec: the same facts, with the argv as
 * given to exec (a prefix when it was longer than the probe keeps) and the start time the kernel gave.
 */
export function keptFacts(k: KeptExec): ProcessFacts {
  const facts: ProcessFacts = {
    pid: k.pid,
    ppid: k.ppid,
    name: k.comm,
    args: trimTitlePadding(k.args),
    startNs: bootTimeNs() + (BigInt(k.startTicks) * 1_000_000_000n) / BigInt(CLK_TCK),
    startTicks: k.startTicks,
    uid: k.uid,
    euid: k.euid,
  };
  if (k.executable !== undefined) facts.executable = k.executable;
  if (k.argsBytes !== undefined) facts.argsBytes = k.argsBytes;
  if (k.loginUid !== undefined) facts.loginUid = k.loginUid;
  if (k.auditSession !== undefined) facts.auditSession = k.auditSession;
  return facts;
}

/**
 * How long ago a process started, by the kernel's clock since boot (/proc/uptime and its start
 * ticks): unlike its start as a wall-clock time, this does not move when the wall clock is set.
 * Undefined when /proc/uptime cannot be read.
 */
export function processAgeNs(p: ProcessFacts): bigint | undefined {
  const m = /^(\d+)\.(\d+)/.exec(readText(`${PROC}/uptime`) ?? "");
  if (!m) return undefined;
  const uptimeNs =
    BigInt(m[1] as string) * 1_000_000_000n + BigInt((m[2] as string).padEnd(9, "0").slice(0, 9));
  return uptimeNs - (BigInt(p.startTicks) * 1_000_000_000n) / BigInt(CLK_TCK);
}
