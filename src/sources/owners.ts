import { statSync } from "node:fs";
import { listDir, PROC, readLink, readText, socketInode } from "../proc-io.ts";
import type { Diagnostics, Owner } from "./types.ts";

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
 * offers, and an expensive one (a readlink per descriptor). So it is asked only about sockets never seen
 * before, and it looks where the owner most likely is first:
 *   1. processes whose name is one of the SSH clients (also the only way a socket on another port
 *      counts as SSH at all, so for those sockets the search ends here);
 *   2. for sockets to an SSH port: processes running as the socket's uid;
 *   3. for those still missing: every other process.
 */
export class OwnerResolver {
  readonly stats: OwnerScanStats = { fdDirsRead: 0, fullScans: 0, denied: 0 };

  constructor(
    private readonly clients: ReadonlySet<string>,
    private readonly diag: Diagnostics,
  ) {}

  resolve(wanted: Map<number, Wanted>, pids: readonly number[]): Map<number, Owner> {
    const found = new Map<number, Owner>();
    if (wanted.size === 0) return found;
    const scanned = new Set<number>();
    const scan = (pid: number, comm: string | undefined): void => {
      scanned.add(pid);
      this.scanFds(pid, comm, wanted, found);
    };
    const comms = new Map<number, string | undefined>();
    for (const pid of pids) {
      const comm = readText(`${PROC}/${pid}/comm`)?.trimEnd();
      comms.set(pid, comm);
      if (comm !== undefined && this.clients.has(comm)) scan(pid, comm);
    }
    const missing = (): number[] =>
      [...wanted].filter(([ino, w]) => w.portMatch && !found.has(ino)).map(([ino]) => ino);
    if (missing().length === 0) return found;
    const uids = new Set(missing().map((ino) => wanted.get(ino)?.uid));
    for (const pid of pids) {
      if (scanned.has(pid)) continue;
      if (uids.has(processUid(pid))) scan(pid, comms.get(pid));
    }
    if (missing().length === 0) return found;
    this.stats.fullScans++;
    for (const pid of pids) {
      if (!scanned.has(pid)) scan(pid, comms.get(pid));
      if (missing().length === 0) break;
    }
    return found;
  }

  private scanFds(
    pid: number,
    comm: string | undefined,
    wanted: Map<number, Wanted>,
    found: Map<number, Owner>,
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
    }
  }
}

function processUid(pid: number): number | undefined {
  try {
    return statSync(`${PROC}/${pid}`).uid;
  } catch {
    return undefined; // gone: nothing to scan
  }
}
