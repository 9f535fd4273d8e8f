import { clientSockets } from "../client-sockets.ts";
import { Listeners } from "../direction.ts";
import { SourceError } from "../errors.ts";
import { sayAtMostEvery } from "../guard.ts";
import { type Diagnostics, TCP_STATES } from "../types.ts";
import type { ProcNetEntry } from "./proc-net.ts";
import {
  type DiagEntry,
  dumpMode,
  listSockets,
  lookupSocket,
  SockDiagError,
  sockDiag,
  sockDiagLoadError,
  stateMask,
  udpInodes,
} from "./sock-diag.ts";
import { IGNORED, type Tables } from "./tables.ts";
import { nothingMoved, type TcpCounters, tcpCounters } from "./tcp-counters.ts";
import { lookupUnix } from "./unix-diag.ts";

const CANDIDATE_STATES = stateMask(TCP_STATES.filter((s) => s !== "UNKNOWN" && !IGNORED.has(s)));
const LISTEN_STATE = stateMask(["LISTEN"]);
/** Ticks between two full dumps when ActiveOpens has not moved: 5 s at the default 50 ms. */
const FULL_DUMP_EVERY = 100;
/**
 * While every connect since the last full dump failed (as many new AttemptFails as ActiveOpens), a
 * full dump is made at most this often (see viaNetlink).
 */
const FAILED_ONLY_DUMP_MS = 200;
/** A held socket that is unix or UDP: it never becomes a TCP connection. */
const NEVER_TCP = -2;
/**
 * The least time between two full dumps for held sockets seen before whose kind is still unknown: at
 * first; doubled after each such dump that finds none of them became a TCP connection, up to
 * UNSEEN_DUMP_MAX_MS.
 */
const UNSEEN_DUMP_MS = 250;
const UNSEEN_DUMP_MAX_MS = 5000;
/** Held sockets of unknown kind looked up one by one per tick, at most. */
const UNSEEN_LOOKUPS = 64;

/** Walks of the table one TCP dump makes: one when both families come at once (see listSockets). */
const tcpWalks = (): number => (dumpMode() === "per family" ? 2 : 1);

const average = (prev: number, now: number): number => (prev === 0 ? now : prev * 0.8 + now * 0.2);

/**
 * A socket still held by a process. Once the last descriptor is closed, the kernel keeps finishing
 * the TCP close (FIN_WAIT, LAST_ACK) with inode 0: for us that connection has ended, as in /proc.
 */
const stillHeld = (e: ProcNetEntry): boolean => e.inode !== 0;

/**
 * Our own network namespace's sockets through netlink sock_diag, at the least cost TCP's counters
 * allow (see viaNetlink), and which sockets our namespace's SSH clients hold (`held`). The scanner asks
 * it first and reads /proc/self/net/tcp when it answers undefined.
 */
export class OwnNamespace {
  /** Socket listing through netlink (false: the addon is missing or netlink failed for good). */
  private netlink: boolean;
  /** Dump requests made, a request per family counted as two (a TCP dump of both families at once: one). */
  dumps = 0;
  lookups = 0;
  errors = 0;
  /** Held sockets whose kind was not looked up in their tick (past UNSEEN_LOOKUPS). */
  lookupsDeferred = 0;
  /** From the last read: our namespace's clients' sockets (inode → pid). */
  held = new Map<number, number>();
  /** Client-held sockets on other ports found by a full dump, carried while held. */
  private heldTcp = new Map<number, DiagEntry>();
  /** The SSH-port sockets of the last tick, looked up by id while ActiveOpens stands still. */
  private portSockets: DiagEntry[] = [];
  private lastCounters: TcpCounters | undefined;
  /** The counters read just before the last full dump, and when it was made (monotonic ms). */
  private dumpBase: TcpCounters | undefined;
  private dumpAtMs = 0;
  /** Ticks whose connects had all failed, answered by lookups instead of a full dump. */
  dumpsSpared = 0;
  private sinceDump = 0;
  /** What one filtered dump and one by-id lookup cost lately (ns, moving averages), to pick the cheaper. */
  private dumpNs = 0;
  private lookupNs = 0;
  /**
   * Sockets clients hold that were not TCP connections when looked for: a unix socket (ssh-agent's, a
   * control master's) for good (`NEVER_TCP`), any other kind until the next connect() on the host, the
   * only way a socket becomes a TCP connection (TCP's ActiveOpens counter at the time, or -1 when
   * the counters could not be read: looked for again at the next tick).
   */
  private readonly heldNotTcp = new Map<number, number>();
  /** Held sockets known to be unix sockets: the only ones a session over a master can ride. */
  private readonly unixHeld = new Set<number>();
  private unseenDumpMs = 0;
  private unseenGapMs = UNSEEN_DUMP_MS;
  private readonly say: (key: string, message: string) => void;

  constructor(
    private readonly portList: readonly number[],
    private readonly diag: Diagnostics,
  ) {
    this.say = sayAtMostEvery(diag, 60_000);
    this.netlink = sockDiag() !== null;
  }

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

  /**
   * Our namespace through netlink; when a dump fails (cut, timed out, ENOBUFS) this tick reads
   * /proc/net/tcp instead, a whole picture from another interface, and netlink is asked again next
   * tick. Never the part of a dump that came.
   */
  read(clientPids: readonly number[]): Tables | undefined {
    try {
      return this.viaNetlink(clientPids);
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      this.errors++;
      // What this tick read from /proc is not what the next lookups know: dump in full next time.
      this.lastCounters = undefined;
      this.say(
        "netlink",
        `netlink sock_diag failed (${err.message}); this tick reads /proc/net/tcp instead ` +
          `(${this.errors} so far; said at most once a minute)`,
      );
      return undefined;
    }
  }

  /** Whether a socket listed at this tick still exists: looked up by id when it came from netlink. */
  stillPresent(inode: number): boolean {
    const e = this.portSockets.find((p) => p.inode === inode);
    if (!e || !this.netlink) return true;
    try {
      const now = lookupSocket(e);
      return now !== undefined && now.inode !== 0;
    } catch {
      return true;
    }
  }

  /**
   * Our namespace's sockets through netlink sock_diag: the kernel returns only those to an SSH port.
   * The dump walks the kernel's whole socket table (about 3 ms for 10,000 sockets), so which request
   * is made depends on TCP's counters (/proc/self/net/snmp), read first:
   *   - ActiveOpens moved (a connect() happened), or every `FULL_DUMP_EVERY` ticks as a safety net:
   *     the filtered dump; except while every connect since the last dump failed (ActiveOpens and
   *     AttemptFails moved alike since: a refused-connect loop), when no new connection can be in the
   *     table and the sockets from last time are looked up by id, with a dump at least every
   *     FAILED_ONLY_DUMP_MS. A failed connect counts once in each; a connection that succeeded (or
   *     still connects) only in ActiveOpens, so it makes the next tick dump. Only failures of
   *     connections accepted here (AttemptFails counts those too) could make up for one, and then for
   *     FAILED_ONLY_DUMP_MS at most;
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
    this.held = new Map();
    if (!this.netlink) return undefined;
    try {
      const counters = tcpCounters();
      const last = this.lastCounters;
      let entries: DiagEntry[];
      const lookupsCost = this.portSockets.length * this.lookupNs;
      const dumpCheaper = this.dumpNs > 0 && this.lookupNs > 0 && lookupsCost > this.dumpNs;
      const steady = counters !== undefined && last !== undefined && nothingMoved(counters, last);
      const connects = counters === undefined || counters.activeOpens !== last?.activeOpens;
      const base = this.dumpBase;
      // Monotonic: a wall clock set back must not stretch the bound.
      const nowMs = performance.now();
      const failedOnly =
        connects &&
        counters !== undefined &&
        base !== undefined &&
        counters.activeOpens - base.activeOpens === counters.attemptFails - base.attemptFails &&
        nowMs - this.dumpAtMs < FAILED_ONLY_DUMP_MS;
      const dump =
        (connects && !failedOnly) || ++this.sinceDump >= FULL_DUMP_EVERY || (!steady && dumpCheaper);
      if (!dump && failedOnly) this.dumpsSpared++;
      if (dump) {
        const t0 = process.hrtime.bigint();
        entries = listSockets(CANDIDATE_STATES, this.portList).filter(stillHeld);
        this.sinceDump = 0;
        this.dumpBase = counters;
        this.dumpAtMs = nowMs;
        this.dumpNs = average(this.dumpNs, Number(process.hrtime.bigint() - t0));
        this.dumps += tcpWalks();
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
        this.lookups += asked;
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
      // Looked for in a full dump (the kernel walks its whole table: milliseconds) when all that is
      // unseen was seen before at most every unseenGapMs (250 ms, doubling up to 5 s while such dumps
      // find none of them connected): a client's held socket of no known kind is looked at again
      // after each connect() on the host, and a user who connects in a loop while a process named like
      // a client holds such sockets (unbound UDP ones, which no dump lists) must not buy a full dump
      // every tick, nor four a second for as long as it likes. A socket new this tick is looked for
      // at once.
      const now = Date.now();
      const fresh = [...unseen].some((ino) => !this.heldNotTcp.has(ino));
      if (unseen.size > 0 && !fresh && now - this.unseenDumpMs < this.unseenGapMs) {
        this.lookupsDeferred += unseen.size;
        unseen.clear();
      }
      if (unseen.size > 0) {
        this.unseenDumpMs = now;
        this.dumps += tcpWalks();
        let connected = false;
        for (const e of listSockets(CANDIDATE_STATES, [])) {
          if (!stillHeld(e) || !unseen.delete(e.inode)) continue;
          carried.set(e.inode, e);
          connected ||= this.heldNotTcp.has(e.inode);
        }
        if (connected) this.unseenGapMs = UNSEEN_DUMP_MS;
        else if (!fresh) this.unseenGapMs = Math.min(this.unseenGapMs * 2, UNSEEN_DUMP_MAX_MS);
      }
      // What is held but not a TCP socket in a state of interest (ssh-agent's unix socket, say). UDP
      // sockets are told apart in one dump and never looked at again; the rest are looked up one by
      // one, at most UNSEEN_LOOKUPS a tick (a process named like a client may hold thousands): those
      // not reached this tick are next tick's.
      if (unseen.size > 0) {
        this.dumps += 2;
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
        this.dumps += tcpWalks();
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
