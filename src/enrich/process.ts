import { decodeUtf8Escaped } from "../bytes.ts";
import { PROC, readBytes, readLink, readText, type StatLine } from "../proc-io.ts";

export { parseStat, readStat, type StatLine } from "../proc-io.ts";

/** What /proc tells about one process, read while it lives. */
export interface ProcessFacts {
  pid: number;
  ppid: number;
  name: string;
  executable?: string;
  args: string[];
  /** Start time as ns since the epoch. */
  startNs: bigint;
  /** Real uid (who started it) and effective uid (whose rights it uses). */
  uid: number;
  euid: number;
}

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

/** NUL-separated argv; bytes that are not UTF-8 are kept (see decodeUtf8Escaped), never replaced. */
export function parseCmdline(buf: Buffer): string[] {
  if (buf.length === 0) return [];
  const end = buf[buf.length - 1] === 0 ? buf.length - 1 : buf.length;
  return trimTitlePadding(decodeUtf8Escaped(buf.subarray(0, end)).split("\0"));
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
  const status = readText(`${PROC}/${pid}/status`);
  const ids = status === undefined ? undefined : parseUids(status);
  const cmdline = readBytes(`${PROC}/${pid}/cmdline`);
  if (ids === undefined || cmdline === undefined) return undefined;
  const facts: ProcessFacts = {
    pid,
    ppid: stat.ppid,
    name: stat.comm,
    args: parseCmdline(cmdline),
    startNs: bootTimeNs() + (BigInt(stat.startTicks) * 1_000_000_000n) / BigInt(CLK_TCK),
    uid: ids.uid,
    euid: ids.euid,
  };
  // Only the owner or a privileged reader may follow exe; missing it is not an error.
  const exe = readLink(`${PROC}/${pid}/exe`);
  if (exe !== undefined) facts.executable = exe.replace(/ \(deleted\)$/, "");
  return facts;
}
