import { listPids, nsInode, PROC, readLink, readText } from "../proc-io.ts";

interface PidFacts {
  ns: number;
  comm: string | undefined;
  /** The refresh() call that first saw the pid. */
  born: number;
}

/**
 * What the procfs source keeps about every process: its network namespace (to find one living process
 * in each namespace, whose /proc/PID/net/tcp shows that namespace's sockets: containers, `ip netns
 * exec`, `unshare -n`) and its name (to know the SSH clients among them).
 *
 * Both are read when a pid first appears. A process can still move with setns(2)/unshare(2) or
 * change its name with execve(2) later, so every pid is read again every `revalidateEvery` calls, and
 * a young pid (seen fewer than `youngFor` calls ago, the time between fork and exec) at every call.
 */
export class PidTable {
  private readonly pids = new Map<number, PidFacts>();
  private calls = 0;

  constructor(
    private readonly clients: ReadonlySet<string>,
    private readonly revalidateEvery = 20,
    private readonly youngFor = 20,
  ) {}

  /** @returns netns inode → representative pid; and the pids, by namespace, running an SSH client. */
  refresh(): { reps: Map<number, number>; clients: Map<number, number[]> } {
    const call = this.calls++;
    const full = call % this.revalidateEvery === 0;
    const listed = listPids();
    const alive = new Set(listed);
    for (const pid of this.pids.keys()) if (!alive.has(pid)) this.pids.delete(pid);
    for (const pid of listed) {
      const known = this.pids.get(pid);
      if (known && !full && call - known.born >= this.youngFor) continue;
      const ns = nsInode(readLink(`${PROC}/${pid}/ns/net`));
      if (ns === undefined) {
        this.pids.delete(pid);
        continue;
      }
      const comm = readText(`${PROC}/${pid}/comm`)?.trimEnd();
      this.pids.set(pid, { ns, comm, born: known?.born ?? call });
    }
    const reps = new Map<number, number>();
    // Our own namespace first, through ourselves: always readable even without privileges.
    const own = nsInode(readLink(`${PROC}/self/ns/net`));
    if (own !== undefined) reps.set(own, process.pid);
    const clients = new Map<number, number[]>();
    for (const [pid, f] of this.pids) {
      if (!reps.has(f.ns)) reps.set(f.ns, pid);
      if (f.comm !== undefined && this.clients.has(f.comm))
        clients.set(f.ns, [...(clients.get(f.ns) ?? []), pid]);
    }
    return { reps, clients };
  }
}
