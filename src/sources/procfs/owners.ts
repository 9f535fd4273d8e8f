import { statSync } from "node:fs";
import { listDir, PROC, readComm, readLink, readText, socketInode } from "../../proc-io.ts";
import type { Diagnostics, Owner } from "../types.ts";

export interface Wanted {
  /** The remote port is one of the SSH ports: worth a full scan if the cheap ones miss. */
  portMatch: boolean;
  uid: number;
}

export interface OwnerScanStats {
  fdDirsRead: number;
  fullScans: number;
  denied: number;
}

/**
 * Maps socket inodes to the process holding them by reading /proc/PID/fd links: the only way procfs
 * offers, and an expensive one (a readlink per descriptor: 50,000 on a host with 500 processes of 100
 * files). So it is asked only about sockets never seen before, and it looks where the owner most
 * likely is first:
 *   1. processes whose name is one of the SSH clients, and their children (ProxyCommand): also the
 *      only way a socket on another port counts as SSH at all, so for those sockets the search ends here;
 *   2. for sockets to an SSH port: processes that have run since the last search (their CPU time in
 *      /proc/PID/schedstat moved; whoever called connect() has), those running as the socket's uid
 *      first; idle processes, however many files they hold, are not read;
 *   3. for those still missing: every other process.
 */
export class OwnerResolver {
  readonly stats: OwnerScanStats = { fdDirsRead: 0, fullScans: 0, denied: 0 };

  constructor(
    private readonly clients: ReadonlySet<string>,
    private readonly diag: Diagnostics,
  ) {}

  /**
   * CPU time (ns) each pid had at the last two searches. A pid counts as active when its time moved
   * since the older of the two: a process that connected after the socket table was read but before
   * the last search took its times is thus still active at the next search.
   */
  private ran = new Map<number, string>();
  private ranBefore = new Map<number, string>();

  /** Takes the processes' CPU times now, so that the first search knows who ran since. */
  prime(pids: readonly number[]): void {
    for (const pid of pids) {
      const t = runTime(pid);
      if (t !== undefined) this.ran.set(pid, t);
    }
    this.ranBefore = this.ran;
  }

  /**
   * @param commOf the process name where the caller already knows it (else read from /proc).
   * @param clientPids the SSH clients and their children (ProxyCommand) where the caller knows them:
   *   searched first (else the processes whose name is a client's).
   * @param present whether a socket still exists (else assumed): a socket gone by now is not worth
   *   reading every process's descriptors for.
   */
  resolve(
    wanted: Map<number, Wanted>,
    pids: readonly number[],
    commOf: (pid: number) => string | undefined = readComm,
    present: (inode: number) => boolean = () => true,
    clientPids?: ReadonlySet<number>,
  ): Map<number, Owner> {
    const found = new Map<number, Owner>();
    if (wanted.size === 0) return found;
    // Sockets to an SSH port still without an owner: kept up to date as owners are found, so each
    // step of the search asks "anything left?" in constant time.
    const missing = new Set<number>();
    for (const [ino, w] of wanted) if (w.portMatch) missing.add(ino);
    const scanned = new Set<number>();
    const comm = (pid: number) => commOf(pid) ?? readComm(pid);
    const scan = (pid: number): void => {
      scanned.add(pid);
      this.scanFds(pid, comm(pid), wanted, found, missing);
    };
    for (const pid of pids) {
      if (clientPids ? clientPids.has(pid) : this.clients.has(comm(pid) ?? "")) scan(pid);
    }
    if (missing.size === 0) return found;
    const active = this.active(pids);
    const uids = new Set([...missing].map((ino) => wanted.get(ino)?.uid));
    const mine = active.filter((pid) => uids.has(processUid(pid)));
    for (const pid of [...mine, ...active]) {
      if (!scanned.has(pid)) scan(pid);
      if (missing.size === 0) return found;
    }
    if (![...missing].some(present)) return found;
    this.stats.fullScans++;
    for (const pid of pids) {
      if (!scanned.has(pid)) scan(pid);
      if (missing.size === 0) break;
    }
    return found;
  }

  /** Pids whose CPU time moved since the last search (or that are new to us), newest first. */
  private active(pids: readonly number[]): number[] {
    const now = new Map<number, string>();
    const out: number[] = [];
    for (const pid of pids) {
      const t = runTime(pid);
      if (t === undefined) continue;
      now.set(pid, t);
      if (this.ranBefore.get(pid) !== t) out.push(pid);
    }
    this.ranBefore = this.ran;
    this.ran = now;
    return out.sort((a, b) => b - a);
  }

  private scanFds(
    pid: number,
    comm: string | undefined,
    wanted: Map<number, Wanted>,
    found: Map<number, Owner>,
    missing: Set<number>,
  ) {
    const dir = `${PROC}/${pid}/fd`;
    const { names, denied } = listDir(dir);
    this.stats.fdDirsRead++;
    if (denied) {
      this.stats.denied++;
      this.diag.once(
        "fd-denied",
        `cannot read ${dir} (running as uid ${process.getuid?.()}): connections of processes we may not ` +
          "inspect are logged without process attribution; run as root or with CAP_SYS_PTRACE and " +
          "CAP_DAC_READ_SEARCH to attribute them",
      );
      return;
    }
    for (const name of names ?? []) {
      const ino = socketInode(readLink(`${dir}/${name}`));
      if (ino === undefined || !wanted.has(ino) || found.has(ino)) continue;
      const owner: Owner = { pid, fd: Number(name) };
      if (comm !== undefined) owner.comm = comm;
      found.set(ino, owner);
      missing.delete(ino);
    }
  }
}

/** Time spent on the CPU, ns, as text (first field of /proc/PID/schedstat); undefined if gone. */
function runTime(pid: number): string | undefined {
  const s = readText(`${PROC}/${pid}/schedstat`);
  return s === undefined ? undefined : s.slice(0, s.indexOf(" "));
}

function processUid(pid: number): number | undefined {
  try {
    return statSync(`${PROC}/${pid}`).uid;
  } catch {
    return undefined; // gone: nothing to scan
  }
}
