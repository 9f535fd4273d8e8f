import { clock } from "../clock.ts";
import { listPids, PROC, pidReadFaults, readText } from "../proc-io.ts";
import { clientSockets } from "./client-sockets.ts";
import { Listeners } from "./direction.ts";
import { SourceError } from "./errors.ts";
import { Guard, sayAtMostEvery } from "./guard.ts";
import { MuxWatch } from "./mux.ts";
import { OwnerResolver, type Wanted } from "./owners.ts";
import { PidTable } from "./pid-table.ts";
import { type ProcNetEntry, parseProcNet } from "./proc-net.ts";
import {
  type DiagEntry,
  listSockets,
  lookupSocket,
  SockDiagError,
  sockDiag,
  sockDiagLoadError,
  stateMask,
  udpInodes,
} from "./sock-diag.ts";
import { nothingMoved, type TcpCounters, tcpCounters } from "./tcp-counters.ts";
import {
  type Diagnostics,
  type Owner,
  type SocketFacts,
  type Source,
  type SourceEvents,
  type SourceStats,
  TCP_STATES,
  type TcpState,
} from "./types.ts";
import { lookupUnix } from "./unix-diag.ts";

export interface ProcfsOptions {
  intervalMs: number;
  ports: readonly number[];
  clients: readonly string[];
  diag: Diagnostics;
}

/** States in which a socket is not (or no longer) an outbound connection of a process. */
const IGNORED: ReadonlySet<TcpState> = new Set(["LISTEN", "TIME_WAIT", "CLOSE", "NEW_SYN_RECV", "SYN_RECV"]);
const CANDIDATE_STATES = stateMask(TCP_STATES.filter((s) => s !== "UNKNOWN" && !IGNORED.has(s)));
const LISTEN_STATE = stateMask(["LISTEN"]);
/** Ticks between two full dumps when ActiveOpens has not moved: 5 s at the default 50 ms. */
const FULL_DUMP_EVERY = 100;

/**
 * A socket still held by a process. Once the last descriptor is closed, the kernel keeps finishing
 * the TCP close (FIN_WAIT, LAST_ACK) with inode 0: for us that connection has ended, as in /proc.
 */
const stillHeld = (e: ProcNetEntry): boolean => e.inode !== 0;

interface Tables {
  entries: ProcNetEntry[];
  /** The namespace's listening sockets: which entries are inbound (see direction.ts). */
  listen: Listeners;
}

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
  private readonly diag: Diagnostics;
  /** Socket listing through netlink (false: the addon is missing or netlink failed). */
  private netlink: boolean;
  netlinkDumps = 0;
  private primed = false;
  /** Client-held sockets on other ports found by a full dump, carried while held. */
  private heldTcp = new Map<number, DiagEntry>();
  /** The SSH-port sockets of the last tick, looked up by id while ActiveOpens stands still. */
  private portSockets: DiagEntry[] = [];
  private lastCounters: TcpCounters | undefined;
  private sinceDump = 0;
  netlinkLookups = 0;
  netlinkErrors = 0;
  private readonly say: (key: string, message: string) => void;
  /** What one filtered dump and one by-id lookup cost lately (ns, moving averages), to pick the cheaper. */
  private dumpNs = 0;
  private lookupNs = 0;
  /**
   * Sockets clients hold that were not TCP connections when looked for: a unix socket (ssh-agent's, a
   * control master's) for good (`UNIX`), any other kind until the next connect() on the host, the
   * only way a socket becomes a TCP connection (TCP's ActiveOpens counter at the time, or -1 when
   * the counters could not be read: looked for again at the next tick).
   */
  private readonly heldNotTcp = new Map<number, number>();
  /** Held sockets known to be unix sockets: the only ones a session over a master can ride. */
  private readonly unixHeld = new Set<number>();
  /** Held sockets whose kind was not looked up in their tick (past UNSEEN_LOOKUPS). */
  lookupsDeferred = 0;
  private unseenDumpMs = 0;
  /** From the last scan, for the session watch: our namespace's clients' sockets (inode → pid). */
  held = new Map<number, number>();
  /** From the last scan: the SSH clients (by name) of our namespace, and who held a reported socket. */
  ownClients: number[] = [];
  private lastFacts: readonly SocketFacts[] = [];
  private socketOwners: Set<number> | undefined;
  /** inode → what we concluded when we first saw it: its owner (or none found) if SSH, null if not. */
  private known = new Map<number, { owner: Owner | undefined } | null>();
  malformed = 0;

  constructor(opts: Omit<ProcfsOptions, "intervalMs"> & { intervalMs?: number }) {
    this.ports = new Set(opts.ports);
    this.portList = [...this.ports];
    this.diag = opts.diag;
    this.say = sayAtMostEvery(opts.diag, 60_000);
    // Every pid's namespace and name are read again about every 5 s (and young pids at every scan).
    const every = opts.intervalMs ? Math.max(1, Math.round(5000 / opts.intervalMs)) : 100;
    this.clientNames = new Set(opts.clients);
    this.pids = new PidTable(this.clientNames, every);
    this.owners = new OwnerResolver(new Set(opts.clients), opts.diag);
    this.netlink = sockDiag() !== null;
  }

  private nsCursor = 0;
  /** Each namespace's tables as last read: what a namespace not read this tick stands as. */
  private lastTables = new Map<number, Tables>();
  /** Namespace reads put off to a later tick (past the tick's OTHER_NAMESPACES_MS). */
  namespacesDeferred = 0;

  /** How sockets of our namespace are listed: "netlink" or "proc" (with why). */
  get tableSource(): string {
    if (this.netlink) return "netlink sock_diag with an in-kernel port filter";
    const why = sockDiagLoadError();
    return `/proc/net/tcp${why ? ` (sock_diag addon not loaded: ${why})` : ""}`;
  }

  /**
   * Whether a held socket is known to be a unix socket. Without netlink nothing is known, and every
   * held socket may be one.
   */
  isUnix(inode: number): boolean {
    return !this.netlink || this.unixHeld.has(inode);
  }

  /** The pids that held a socket the last scan reported (made when first asked for after a scan). */
  tcpOwners(): ReadonlySet<number> {
    this.socketOwners ??= new Set(this.lastFacts.flatMap((f) => (f.owner ? [f.owner.pid] : [])));
    return this.socketOwners;
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
      // Our own namespace through netlink when we can; other namespaces (and the fallback) via /proc,
      // within the tick's budget: the rest stand as last read (or hold nothing we know of yet).
      let tables: Tables;
      if (pid === process.pid) tables = this.ownNamespace(clients.get(ns) ?? []) || this.viaProc(pid);
      else if (readOthers === 0 || spentMs < OTHER_NAMESPACES_MS) {
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
        candidates.push({
          portMatch: this.ports.has(e.remotePort),
          facts: {
            key: `ino:${e.inode}`,
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
            (ino) => this.stillPresent(ino),
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

  /**
   * Our namespace through netlink; when a dump fails (cut, timed out, ENOBUFS) this tick reads
   * /proc/net/tcp instead, a whole picture from another interface, and netlink is asked again next
   * tick. Never the part of a dump that came.
   */
  private ownNamespace(clientPids: readonly number[]): Tables | undefined {
    try {
      return this.viaNetlink(clientPids);
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      this.netlinkErrors++;
      // What this tick read from /proc is not what the next lookups know: dump in full next time.
      this.lastCounters = undefined;
      this.say(
        "netlink",
        `netlink sock_diag failed (${err.message}); this tick reads /proc/net/tcp instead ` +
          `(${this.netlinkErrors} so far; said at most once a minute)`,
      );
      return undefined;
    }
  }

  /** Whether a socket listed at this tick still exists: looked up by id when it came from netlink. */
  private stillPresent(inode: number): boolean {
    const e = this.portSockets.find((p) => p.inode === inode);
    if (!e || !this.netlink) return true;
    try {
      const now = lookupSocket(e);
      return now !== undefined && now.inode !== 0;
    } catch {
      return true;
    }
  }

  /** /proc/PID/net/tcp and tcp6: every socket of the namespace, formatted as text by the kernel. */
  private viaProc(pid: number): Tables {
    const base = pid === process.pid ? `${PROC}/self/net` : `${PROC}/${pid}/net`;
    // A socket listening on [::] shows in tcp6 while its IPv4 sessions show in tcp: both tables'
    // listening ports count before deciding what is inbound.
    const listen = new Listeners();
    const entries: ProcNetEntry[] = [];
    for (const file of ["tcp", "tcp6"]) {
      const text = readText(`${base}/${file}`);
      if (text === undefined) continue; // the representative exited, or no IPv6: next tick will do
      const parsed = parseProcNet(text, {
        keep: (_remotePort, state, inode) => inode !== 0 && !IGNORED.has(state),
      });
      this.malformed += parsed.malformed;
      for (const l of parsed.listening) listen.add(l.ip, l.port);
      entries.push(...parsed.entries);
    }
    return { entries, listen };
  }

  /**
   * Our namespace's sockets through netlink sock_diag: the kernel returns only those to an SSH port.
   * The dump walks the kernel's whole socket table (about 3 ms for 10,000 sockets), so which request
   * is made depends on TCP's counters (/proc/self/net/snmp), read first:
   *   - ActiveOpens moved (a connect() happened), or every `FULL_DUMP_EVERY` ticks as a safety net:
   *     the filtered dump;
   *   - nothing moved at all (no open, accept, failure, reset, nor any socket entering or leaving
   *     ESTABLISHED/CLOSE_WAIT): the sockets ESTABLISHED last time still are, and only the others
   *     (connecting, closing) are looked up by id;
   *   - otherwise each socket from last time is looked up by id, or, when that costs more (many
   *     connections open, measured as we go), the dump is made instead.
   * Sockets of SSH clients on other ports are found through the clients' fd links; a full dump is made
   * only when such a socket is new (or still connecting), and its facts are carried while the client
   * holds it. Undefined when netlink cannot be used: the caller reads /proc instead.
   */
  private viaNetlink(clientPids: readonly number[]): Tables | undefined {
    if (!this.netlink) return undefined;
    try {
      const counters = tcpCounters();
      const last = this.lastCounters;
      let entries: DiagEntry[];
      const lookupsCost = this.portSockets.length * this.lookupNs;
      const dumpCheaper = this.dumpNs > 0 && this.lookupNs > 0 && lookupsCost > this.dumpNs;
      const steady = counters !== undefined && last !== undefined && nothingMoved(counters, last);
      if (
        counters === undefined ||
        counters.activeOpens !== last?.activeOpens ||
        ++this.sinceDump >= FULL_DUMP_EVERY ||
        (!steady && dumpCheaper)
      ) {
        const t0 = process.hrtime.bigint();
        entries = listSockets(CANDIDATE_STATES, this.portList).filter(stillHeld);
        this.sinceDump = 0;
        this.dumpNs = average(this.dumpNs, Number(process.hrtime.bigint() - t0));
        this.netlinkDumps += 2;
      } else {
        entries = [];
        let asked = 0;
        const t0 = process.hrtime.bigint();
        for (const e of this.portSockets) {
          if (steady && e.state === "ESTABLISHED") {
            entries.push(e);
            continue;
          }
          const now = lookupSocket(e);
          asked++;
          if (now && !IGNORED.has(now.state) && stillHeld(now)) entries.push(now);
        }
        this.netlinkLookups += asked;
        if (asked > 0) this.lookupNs = average(this.lookupNs, Number(process.hrtime.bigint() - t0) / asked);
      }
      // Only once this tick's picture is whole: a failed dump leaves the next tick to dump again.
      this.lastCounters = counters;
      this.portSockets = entries;
      const held = clientSockets(clientPids);
      this.held = held;
      const have = new Set(entries.map((e) => e.inode));
      const carried = new Map<number, DiagEntry>();
      const unseen = new Set<number>();
      for (const ino of held.keys()) {
        const known = this.heldNotTcp.get(ino);
        if (have.has(ino) || known === NEVER_TCP || (known !== undefined && known === counters?.activeOpens))
          continue;
        const prev = this.heldTcp.get(ino);
        if (prev && prev.state === "ESTABLISHED") carried.set(ino, prev);
        else unseen.add(ino);
      }
      // Looked for in a full dump (the kernel walks its whole table: milliseconds) at most every
      // UNSEEN_DUMP_MS when all that is unseen was seen before: a client's held socket of no known
      // kind is looked at again after each connect() on the host, and a user who connects in a loop
      // while a process named like a client holds such sockets must not buy a full dump every tick.
      // A socket new this tick is looked for at once.
      const now = Date.now();
      const fresh = [...unseen].some((ino) => !this.heldNotTcp.has(ino));
      if (unseen.size > 0 && !fresh && now - this.unseenDumpMs < UNSEEN_DUMP_MS) {
        this.lookupsDeferred += unseen.size;
        unseen.clear();
      }
      if (unseen.size > 0) {
        this.unseenDumpMs = now;
        this.netlinkDumps += 2;
        for (const e of listSockets(CANDIDATE_STATES, [])) {
          if (!stillHeld(e) || !unseen.delete(e.inode)) continue;
          carried.set(e.inode, e);
        }
      }
      // What is held but not a TCP socket in a state of interest (ssh-agent's unix socket, say). UDP
      // sockets are told apart in one dump and never looked at again; the rest are looked up one by
      // one, at most UNSEEN_LOOKUPS a tick (a process named like a client may hold thousands): those
      // not reached this tick are next tick's.
      if (unseen.size > 0) {
        this.netlinkDumps += 2;
        for (const ino of udpInodes()) if (unseen.delete(ino)) this.heldNotTcp.set(ino, NEVER_TCP);
      }
      let looked = 0;
      for (const ino of unseen) {
        if (++looked > UNSEEN_LOOKUPS) {
          this.lookupsDeferred++;
          continue;
        }
        const unix = lookupUnix(ino) !== undefined;
        if (unix) this.unixHeld.add(ino);
        this.heldNotTcp.set(ino, unix ? NEVER_TCP : (counters?.activeOpens ?? -1));
      }
      for (const ino of this.heldNotTcp.keys()) if (!held.has(ino)) this.heldNotTcp.delete(ino);
      for (const ino of this.unixHeld) if (!held.has(ino)) this.unixHeld.delete(ino);
      this.heldTcp = carried;
      const all: ProcNetEntry[] = [...entries, ...carried.values()];
      const listen = new Listeners();
      if (all.length > 0) {
        // Only the listening table: the kernel does not walk the established one for this.
        this.netlinkDumps += 2;
        for (const l of listSockets(LISTEN_STATE, [])) listen.add(l.localIp, l.localPort);
      }
      return { entries: all, listen };
    } catch (err) {
      if (!(err instanceof SockDiagError) || !err.permanent) {
        // Cut, timed out, ENOBUFS: this tick knows nothing about our namespace. Failing it (rather than
        // going on with what came) keeps every socket open in the tracker; the next tick asks again.
        const code = (err as SockDiagError).code ?? "ESOCKDIAG";
        throw new SourceError("ERR_NETLINK", `${code}: ${(err as Error).message}`, err);
      }
      this.netlink = false;
      this.diag.warn(
        `netlink sock_diag cannot be used here (${err.code}: ${err.message}); reading /proc/net/tcp from now on`,
      );
      return undefined;
    }
  }
}

/** What one tick spends on reading other network namespaces' tables, at most (see scan). */
const OTHER_NAMESPACES_MS = 10;
/** A held socket that is unix or UDP: it never becomes a TCP connection. */
const NEVER_TCP = -2;
/** The least time between two full dumps for held sockets seen before whose kind is still unknown. */
const UNSEEN_DUMP_MS = 250;
/** Held sockets of unknown kind looked up one by one per tick, at most. */
const UNSEEN_LOOKUPS = 64;

const average = (prev: number, now: number): number => (prev === 0 ? now : prev * 0.8 + now * 0.2);

/**
 * The polling source: a scan every interval, never two at once. A scan that takes longer than the
 * interval delays the next one (said once on stderr) instead of piling up. A scan that fails (a
 * namespace's table unreadable, a netlink reply cut) is counted and emits nothing: no socket is taken
 * as closed on a picture we did not get whole.
 */
export class ProcfsSource implements Source {
  readonly name = "procfs" as const;
  reason = "procfs";
  private readonly scanner: ProcfsScanner;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private guard: Guard | undefined;
  private readonly counters = { ticks: 0, overruns: 0, tickNsTotal: 0, tickNsMax: 0, failed_ticks: 0 };

  private readonly mux: MuxWatch;

  constructor(private readonly opts: ProcfsOptions) {
    this.scanner = new ProcfsScanner(opts);
    this.mux = new MuxWatch(new Set(opts.clients));
  }

  async start(events: SourceEvents): Promise<void> {
    this.running = true;
    const guard = new Guard({
      diag: this.opts.diag,
      what: "procfs source",
      onDegraded: (why) => events.degraded(why),
    });
    this.guard = guard;
    this.opts.diag.info(`procfs source: our namespace's sockets through ${this.scanner.tableSource}`);
    let initial = true;
    const tick = (): void => {
      if (!this.running) return;
      const t0 = process.hrtime.bigint();
      const sockets = guard.run(() => this.scanner.scan());
      if (sockets) {
        const now = clock.nowNs();
        events.emit({ type: "snapshot", timeNs: now, sockets, initial });
        initial = false;
        const sc = this.scanner;
        const sessions = guard.run(() =>
          this.mux.tick(
            sc.ownClients,
            () => sc.tcpOwners(),
            sc.held,
            now,
            (ino) => sc.isUnix(ino),
          ),
        );
        for (const obs of sessions ?? []) events.emit(obs);
      } else this.counters.failed_ticks++;
      const took = Number(process.hrtime.bigint() - t0);
      this.counters.ticks++;
      this.counters.tickNsTotal += took;
      this.counters.tickNsMax = Math.max(this.counters.tickNsMax, took);
      const tookMs = took / 1e6;
      if (tookMs > this.opts.intervalMs) {
        this.counters.overruns++;
        this.opts.diag.once(
          "tick-overrun",
          `a procfs scan took ${tookMs.toFixed(1)} ms, longer than the ${this.opts.intervalMs} ms interval; ` +
            "scans run back to back (never overlapping) until they are faster — consider --interval or --source ebpf",
        );
      }
      if (this.running) this.timer = setTimeout(tick, Math.max(0, this.opts.intervalMs - tookMs));
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  stats(): SourceStats {
    const o = this.scanner.ownerStats;
    let pidFaults = 0;
    for (const n of pidReadFaults.values()) pidFaults += n;
    return {
      lost: 0,
      errors: (this.guard?.total ?? 0) + pidFaults + this.scanner.netlinkErrors,
      failed_ticks: this.counters.failed_ticks,
      pid_read_faults: pidFaults,
      ticks: this.counters.ticks,
      overruns: this.counters.overruns,
      tick_ms_avg: this.counters.ticks ? this.counters.tickNsTotal / this.counters.ticks / 1e6 : 0,
      tick_ms_max: this.counters.tickNsMax / 1e6,
      fd_dirs_read: o.fdDirsRead,
      full_scans: o.fullScans,
      fd_denied: o.denied,
      malformed_lines: this.scanner.malformed,
      netlink_dumps: this.scanner.netlinkDumps,
      netlink_lookups: this.scanner.netlinkLookups,
      netlink_errors: this.scanner.netlinkErrors,
      kind_lookups_deferred: this.scanner.lookupsDeferred,
      namespace_reads_deferred: this.scanner.namespacesDeferred,
      mux_lookups_skipped: this.mux.searches.skipped,
    };
  }
}
