import { listPids, nsInode, PROC, readLink } from "../proc-io.ts";

/**
 * Finds one living process in each network namespace, so that /proc/PID/net/tcp of that process shows
 * the sockets of its namespace (containers, `ip netns exec`, `unshare -n`).
 *
 * A pid's namespace is read once when the pid first appears. Because a process can still move with
 * setns(2) or unshare(2) after we saw it, every pid is read again every `revalidateEvery` calls; new
 * pids are read at once, so a namespace that a new process enters is seen on the next tick.
 */
export class NetnsMap {
  private readonly pidNs = new Map<number, number>();
  private calls = 0;

  constructor(private readonly revalidateEvery = 20) {}

  /** @returns netns inode → representative pid. */
  refresh(): { reps: Map<number, number> } {
    const pids = listPids();
    const full = this.calls++ % this.revalidateEvery === 0;
    const alive = new Set(pids);
    for (const pid of this.pidNs.keys()) if (!alive.has(pid)) this.pidNs.delete(pid);
    for (const pid of pids) {
      if (!full && this.pidNs.has(pid)) continue;
      const ns = nsInode(readLink(`${PROC}/${pid}/ns/net`));
      if (ns === undefined) this.pidNs.delete(pid);
      else this.pidNs.set(pid, ns);
    }
    const reps = new Map<number, number>();
    // Our own namespace first, through ourselves: always readable even without privileges.
    const own = nsInode(readLink(`${PROC}/self/ns/net`));
    if (own !== undefined) reps.set(own, process.pid);
    for (const [pid, ns] of this.pidNs) if (!reps.has(ns)) reps.set(ns, pid);
    return { reps };
  }
}
