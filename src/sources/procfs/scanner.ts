import { listPids } from "../../proc-io.ts";
import { Listeners } from "../direction.ts";
import type { Diagnostics, NetnsScope, Owner, SocketFacts } from "../types.ts";
import { OwnNamespace } from "./own-namespace.ts";
import { OwnerResolver, type Wanted } from "./owners.ts";
import { PidTable } from "./pid-table.ts";
import { readProcTables, type Tables } from "./tables.ts";

/** What one tick spends on reading other network namespaces' tables, at most (see scan). */
const OTHER_NAMESPACES_MS = 10;

/**
 * Reads the current outbound SSH sockets from /proc. One `scan()` is a full picture of the host at
 * that moment: every network namespace in use, every socket to an SSH port or held by an SSH client.
 * Sockets are resolved to their process once, when first seen; later scans only re-read the tables.
 */
export class ProcfsScanner {
  private readonly pids: PidTable;
  private readonly clientNames: ReadonlySet<string>;
  private readonly owners: OwnerResolver;
  private readonly ports: ReadonlySet<number>;
  private readonly portList: readonly number[];
  /** Our own namespace, through netlink when it can (it knows what our clients hold). */
  readonly own: OwnNamespace;
  private primed = false;
  /** From the last scan, for the session watch: our namespace's clients' sockets (inode → pid). */
  held = new Map<number, number>();
  /** From the last scan: the SSH clients (by name) of our namespace, and who held a reported socket. */
  ownClients: number[] = [];
  private lastFacts: readonly SocketFacts[] = [];
  private socketOwners: Set<number> | undefined;
  /** inode → what we concluded when we first saw it: its owner (or none found) if SSH, null if not. */
  private known = new Map<number, { owner: Owner | undefined } | null>();
  private readonly ownOnly: boolean;
  malformed = 0;

  constructor(opts: {
    ports: readonly number[];
    clients: readonly string[];
    diag: Diagnostics;
    intervalMs?: number;
    /** `own`: only the daemon's own network namespace is read (--netns own). */
    netns?: NetnsScope;
  }) {
    this.ownOnly = opts.netns === "own";
    this.ports = new Set(opts.ports);
    this.portList = [...this.ports];
    this.own = new OwnNamespace(this.portList, opts.diag);
    // Every pid's namespace and name are read again about every 5 s (and young pids at every scan).
    const every = opts.intervalMs ? Math.max(1, Math.round(5000 / opts.intervalMs)) : 100;
    this.clientNames = new Set(opts.clients);
    this.pids = new PidTable(this.clientNames, every);
    this.owners = new OwnerResolver(new Set(opts.clients), opts.diag);
  }

  /** How sockets of our namespace are listed: "netlink" or "proc" (with why). */
  get tableSource(): string {
    return this.own.tableSource;
  }

  /** Whether a held socket is known to be a unix socket (see OwnNamespace.isUnix). */
  isUnix(inode: number): boolean {
    return this.own.isUnix(inode);
  }

  private nsCursor = 0;
  /** Each namespace's tables as last read: what a namespace not read this tick stands as. */
  private lastTables = new Map<number, Tables>();
  /** Namespace reads put off to a later tick (past the tick's OTHER_NAMESPACES_MS). */
  namespacesDeferred = 0;

  /** The pids that held a socket the last scan reported (made when first asked for after a scan). */
  tcpOwners(): ReadonlySet<number> {
    this.socketOwners ??= new Set(this.lastFacts.flatMap((f) => (f.owner ? [f.owner.pid] : [])));
    return this.socketOwners;
  }

  /** Ticks that did not list /proc: no task came or went since the last (see PidTable). */
  get pidListingsSpared(): number {
    return this.pids.listingsSpared;
  }

  get ownerStats() {
    return this.owners.stats;
  }

  scan(): SocketFacts[] {
    const { reps, clients } = this.pids.refresh();
    const ownNs = [...reps].find(([, pid]) => pid === process.pid)?.[0];
    this.ownClients = (ownNs === undefined ? [] : (clients.get(ownNs) ?? [])).filter((pid) =>
      this.clientNames.has(this.pids.comm(pid) ?? ""),
    );
    this.held = new Map();
    if (!this.primed) {
      this.owners.prime(listPids());
      this.primed = true;
    }
    const candidates: { facts: SocketFacts; portMatch: boolean }[] = [];
    const tablesOf = new Map<number, Tables>();
    // Other namespaces in turn, from where the last tick stopped. Each read walks the kernel's whole
    // connection table (about 17 ms for tcp and tcp6 on this 24 GiB machine, whatever the namespace
    // holds), and a user who may create network namespaces could otherwise make every tick as slow as
    // it likes (issue 19): a tick spends at most OTHER_NAMESPACES_MS on them (at least one is read),
    // and the others stand as last read. With many namespaces, a connection in a container is seen
    // within a few ticks instead of one.
    const order = [...reps];
    const start = order.length > 0 ? this.nsCursor % order.length : 0;
    const rotated = [...order.slice(start), ...order.slice(0, start)];
    let spentMs = 0;
    let readOthers = 0;
    for (const [ns, pid] of rotated) {
      if (this.ownOnly && pid !== process.pid) continue;
      // Our own namespace through netlink when we can; other namespaces (and the fallback) via /proc,
      // within the tick's budget: the rest stand as last read (or hold nothing we know of yet).
      let tables: Tables;
      if (pid === process.pid) {
        const own = this.own.read(clients.get(ns) ?? []);
        this.held = this.own.held;
        tables = own ?? this.viaProc(pid);
      } else if (readOthers === 0 || spentMs < OTHER_NAMESPACES_MS) {
        const t0 = process.hrtime.bigint();
        tables = this.viaProc(pid);
        spentMs += Number(process.hrtime.bigint() - t0) / 1e6;
        readOthers++;
        this.nsCursor = order.findIndex(([n]) => n === ns) + 1;
      } else {
        this.namespacesDeferred++;
        tables = this.lastTables.get(ns) ?? { entries: [], listen: new Listeners() };
      }
      tablesOf.set(ns, tables);
      for (const e of tables.entries) {
        if (e.remotePort === 0) continue;
        // Accepted by one of the namespace's listeners: an inbound session, not ours to log. A socket
        // seen connecting is outbound, whatever its ports.
        const local = { ip: e.localIp, port: e.localPort };
        const remote = { ip: e.remoteIp, port: e.remotePort };
        if (e.state !== "SYN_SENT" && tables.listen.inbound(local, remote, this.ports)) continue;
        const portMatch = this.ports.has(e.remotePort);
        candidates.push({
          portMatch,
          facts: {
            key: `ino:${e.inode}`,
            // Off the SSH ports a socket is kept only when an SSH client holds it.
            detectedBy: portMatch ? "port" : "client",
            inode: e.inode,
            netns: ns,
            family: e.family,
            local,
            remote,
            state: e.state,
            uid: e.uid,
          },
        });
      }
    }
    this.lastTables = tablesOf;
    const wanted = new Map<number, Wanted>();
    const seenNow = new Map<number, { owner: Owner | undefined } | null>();
    for (const c of candidates) {
      const ino = c.facts.inode as number;
      const k = this.known.get(ino);
      if (k !== undefined) seenNow.set(ino, k);
      else wanted.set(ino, { portMatch: c.portMatch, uid: c.facts.uid ?? -1 });
    }
    // The pids are listed again, after the tables: a process that connected after the namespace walk
    // listed /proc would otherwise be missing, and its socket taken for nobody's.
    const found =
      wanted.size === 0
        ? new Map<number, Owner>()
        : this.owners.resolve(
            wanted,
            listPids(),
            (pid) => this.pids.comm(pid),
            (ino) => this.own.stillPresent(ino),
            new Set([...clients.values()].flat()),
          );
    for (const [ino, w] of wanted) {
      const owner = found.get(ino);
      // Not on an SSH port and not held by an SSH client: remember that, never look again.
      seenNow.set(ino, w.portMatch || owner !== undefined ? { owner } : null);
    }
    // Forget inodes that left the tables, so memory follows the live socket count.
    this.known = seenNow;
    const out: SocketFacts[] = [];
    for (const c of candidates) {
      const k = seenNow.get(c.facts.inode as number);
      if (!k) continue;
      if (k.owner !== undefined) c.facts.owner = k.owner;
      out.push(c.facts);
    }
    this.lastFacts = out;
    this.socketOwners = undefined;
    return out;
  }

  /** Another namespace (or ours, without netlink): its tables from /proc. */
  private viaProc(pid: number): Tables {
    const t = readProcTables(pid);
    this.malformed += t.malformed;
    return { entries: t.entries, listen: t.listen };
  }
}
