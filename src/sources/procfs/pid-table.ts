import { listPids, nsInode, PROC, readLink, readStat, readText } from "../../proc-io.ts";

interface PidFacts {
  ns: number;
  comm: string | undefined;
  ppid: number;
  /** The refresh() call that first saw the pid. */
  born: number;
}

/**
 * What the procfs source keeps about every process: its network namespace (to find one living process
 * in each namespace, whose /proc/PID/net/tcp shows that namespace's sockets: containers, `ip netns
 * exec`, `unshare -n`), its name (to know the SSH clients among them) and its parent (a client's
 * child is its ProxyCommand, whose connection on any port carries the session).
 *
 * Both are read when a pid first appears. A process can still move with setns(2)/unshare(2) or
 * change its name with execve(2) later, so every pid is read again once every `revalidateEvery`
 * calls (spread: at each call the pids whose number falls in that call's slot, so that 600 processes
 * cost about 1,200 reads per period, never in one tick), and a young pid (first seen fewer than
 * `youngFor` calls ago: between fork and exec) at every call.
 *
 * /proc is listed only when a task came or went since the last call: /proc/loadavg gives the last pid
 * handed out (in our pid namespace, which every task of the namespaces below also takes one in) and
 * the number of tasks on the host. When neither moved, no process started or ended, and the pids known
 * are the pids there are (an idle host's tick then costs one small read instead of a directory
 * listing and a pass over every pid).
 */
export class PidTable {
  private readonly pids = new Map<number, PidFacts>();
  private calls = 0;
  /** /proc/loadavg's last pid and task count at the last listing. */
  private tasks: string | undefined;
  /** Calls that did not need to list /proc. */
  listingsSpared = 0;

  constructor(
    private readonly clients: ReadonlySet<string>,
    private readonly revalidateEvery = 100,
    private readonly youngFor = 20,
  ) {}

  /** The name read at the last refresh that read this pid, if any. */
  comm(pid: number): string | undefined {
    return this.pids.get(pid)?.comm;
  }

  /**
   * @returns netns inode → representative pid; and by namespace the pids running an SSH client, with
   * their children (ProxyCommand).
   */
  refresh(): { reps: Map<number, number>; clients: Map<number, number[]> } {
    const call = this.calls++;
    const slot = call % this.revalidateEvery;
    const tasks = tasksNow();
    let listed: number[];
    if (tasks !== undefined && tasks === this.tasks) {
      listed = [...this.pids.keys()];
      this.listingsSpared++;
    } else {
      listed = listPids();
      const alive = new Set(listed);
      for (const pid of this.pids.keys()) if (!alive.has(pid)) this.pids.delete(pid);
    }
    this.tasks = tasks;
    for (const pid of listed) {
      const known = this.pids.get(pid);
      if (known && pid % this.revalidateEvery !== slot && call - known.born >= this.youngFor) continue;
      const ns = nsInode(readLink(`${PROC}/${pid}/ns/net`));
      if (ns === undefined) {
        this.pids.delete(pid);
        continue;
      }
      const stat = readStat(pid);
      // Pids already there at the first call are not young: their fork is long past, most likely.
      const born = known?.born ?? (call === 0 ? -this.youngFor : call);
      this.pids.set(pid, { ns, comm: stat?.comm, ppid: stat?.ppid ?? 0, born });
    }
    const reps = new Map<number, number>();
    // Our own namespace first, through ourselves: always readable even without privileges.
    const own = nsInode(readLink(`${PROC}/self/ns/net`));
    if (own !== undefined) reps.set(own, process.pid);
    const clients = new Map<number, number[]>();
    for (const [pid, f] of this.pids) {
      if (!reps.has(f.ns)) reps.set(f.ns, pid);
      if (!this.isClient(f) && !this.isClient(this.pids.get(f.ppid))) continue;
      const inNs = clients.get(f.ns);
      if (inNs) inNs.push(pid);
      else clients.set(f.ns, [pid]);
    }
    return { reps, clients };
  }

  private isClient(f: PidFacts | undefined): boolean {
    return f?.comm !== undefined && this.clients.has(f.comm);
  }
}

/**
 * The last pid handed out and the number of tasks, as /proc/loadavg says them ("0.00 0.01 0.05
 * 1/123 4567": the fourth field's total, the fifth): undefined when it cannot be read.
 */
function tasksNow(): string | undefined {
  const f = readText(`${PROC}/loadavg`)?.trim().split(" ");
  const total = f?.[3]?.split("/")[1];
  return f?.length === 5 && total !== undefined ? `${total} ${f[4]}` : undefined;
}
