import { newId } from "../ids.ts";
import type { Observation, SocketFacts, SourceName } from "../sources/types.ts";

/**
 * Turns observations into the life of a connection, each with one UUIDv7 from attempt to end:
 *   attempted → (opened → closed) | failed | unresolved
 * `attempted` carries no record of its own; it lets enrichment read the process while it still lives
 * (a failed connect or a 1 ms session can end before the next stage would otherwise look).
 * `unresolved`: seen only while connecting, then gone, and nobody saw how it ended (a poll cannot tell a
 * refused connect from a 10 ms session between two ticks): never written as a failure.
 */

export type Action = "attempted" | "opened" | "closed" | "failed" | "unresolved";

/** The actions that end a connection: after one, its id is never written again. */
export function isEnd(action: Action): boolean {
  return action === "closed" || action === "failed" || action === "unresolved";
}
/**
 * live: seen from its start. already-open: open when we first looked (its start is when we looked).
 * closed-while-down: carried over from the last run and gone when this one looked. recovered: its
 * connect was among kernel events the source lost, and a check after the loss found it open (its start
 * is when it was found; an events-lost record gives the loss's interval). while-down: made while the
 * daemon was not running, kept by the pinned eBPF probe and read when the daemon came back (its times
 * are the kernel's).
 */
export type Observed = "live" | "already-open" | "closed-while-down" | "recovered" | "while-down";

/** What every event of the trail carries: its id, its source, when it happened and began, how it ended. */
export interface TrailEvent {
  id: string;
  source: SourceName;
  /** When this transition happened (ns since the epoch). */
  timeNs: bigint;
  /** When it was first seen. */
  startNs: bigint;
  /** On an end: when it ended, as well as we know. */
  endNs?: bigint;
  /** On an end nobody saw: the window in which it happened (last known open, first known gone). */
  endWindow?: { afterNs: bigint; beforeNs: bigint };
  /** unknown: the end (or the attempt's result) was inferred, not seen. */
  outcome?: "unknown";
}

export interface ConnectionEvent extends TrailEvent {
  action: Action;
  socket: SocketFacts;
  observed: Observed;
  bytesSent?: number;
  bytesReceived?: number;
  /** On an end: the TCP state the socket left for CLOSE, as the kernel reported it. */
  lastState?: string;
}

/** One open connection as the state file keeps it across a restart. */
export interface CarriedConnection {
  key: string;
  id: string;
  startNs: string;
  observed: Observed;
  socket: SocketFacts;
  /** The owner's start time (clock ticks since boot, /proc/PID/stat field 22): guards against pid reuse. */
  ownerStart?: string;
}

interface Live {
  id: string;
  startNs: bigint;
  socket: SocketFacts;
  observed: Observed;
  opened: boolean;
  ownerStart?: string | undefined;
  /** Established, its opening waits for the server's identification string (at most BANNER_WAIT_NS). */
  heldSinceNs?: bigint;
}

/**
 * How long the record of an opening waits for the server's identification string, which follows the
 * handshake by a round trip (the client sends its own at once: it is there by then, as a rule). A
 * server that never sends one (not SSH after all, or stalled) costs its record this much delay, no
 * more; an end comes first and writes it at once.
 */
export const BANNER_WAIT_NS = 1_000_000_000n;

export interface TrackerOptions {
  /** The start time of a process, or undefined when it is gone. */
  ownerStart?: (pid: number) => string | undefined;
}

const sameTuple = (a: SocketFacts, b: SocketFacts): boolean =>
  a.remote.ip === b.remote.ip &&
  a.remote.port === b.remote.port &&
  (a.local === undefined ||
    b.local === undefined ||
    (a.local.ip === b.local.ip && a.local.port === b.local.port));

export class Tracker {
  private readonly live = new Map<string, Live>();
  /** Connections whose opening waits for the server's banner (a subset of `live`). */
  private readonly held = new Set<Live>();
  /** From the last run, until the source's first picture says which are still there. */
  private carried = new Map<string, CarriedConnection>();
  private carriedSince = 0n;
  /** Set when the set of open connections changed since `openConnections()` was last read. */
  dirty = false;

  constructor(
    /** The source named on each event: it changes when the source of record changes (fallback). */
    private readonly sourceOf: () => SourceName,
    private readonly emit: (ev: ConnectionEvent) => void,
    private readonly opts: TrackerOptions = {},
  ) {}

  get openCount(): number {
    let n = 0;
    for (const l of this.live.values()) if (l.opened) n++;
    return n;
  }

  /**
   * Connections the last run had open (from the state file), saved at `savedNs`. A socket the source
   * reports as already open that matches one (same key, same tuple, same owner start) continues it: same
   * id and start, no second `opened`. `settle()` ends the rest.
   */
  carryOver(connections: readonly CarriedConnection[], savedNs: bigint): void {
    this.carried = new Map(connections.map((c) => [c.key, c]));
    this.carriedSince = savedNs;
  }

  /** After the source's first picture: what the last run had open and is gone now ended while we were down. */
  settle(nowNs: bigint): number {
    const gone = [...this.carried.values()];
    this.carried.clear();
    for (const c of gone) {
      const l: Live = {
        id: c.id,
        startNs: BigInt(c.startNs),
        socket: c.socket,
        observed: "closed-while-down",
        opened: true,
      };
      this.emit(this.event("attempted", l, nowNs));
      const ev = this.event("closed", l, nowNs);
      ev.endNs = nowNs;
      ev.endWindow = { afterNs: this.carriedSince, beforeNs: nowNs };
      ev.outcome = "unknown";
      ev.lastState = "UNKNOWN";
      this.emit(ev);
    }
    if (gone.length) this.dirty = true;
    return gone.length;
  }

  /** The id of the open connection whose socket is one of `inodes` (a control master's, say). */
  idOfSocket(inodes: readonly number[]): string | undefined {
    const want = new Set(inodes);
    for (const l of this.live.values()) {
      if (l.socket.inode !== undefined && want.has(l.socket.inode)) return l.id;
    }
    return undefined;
  }

  /** What the state file should hold now: every open connection. */
  openConnections(): CarriedConnection[] {
    this.dirty = false;
    const out: CarriedConnection[] = [];
    for (const l of this.live.values()) {
      if (!l.opened) continue;
      if (l.ownerStart === undefined && l.socket.owner)
        l.ownerStart = this.opts.ownerStart?.(l.socket.owner.pid);
      const c: CarriedConnection = {
        key: l.socket.key,
        id: l.id,
        startNs: String(l.startNs),
        observed: l.observed,
        socket: l.socket,
      };
      if (l.ownerStart !== undefined) c.ownerStart = l.ownerStart;
      out.push(c);
    }
    return out;
  }

  observe(obs: Observation): void {
    switch (obs.type) {
      case "snapshot":
        this.snapshot(obs.timeNs, obs.sockets, obs.initial);
        return;
      case "existing":
        for (const s of obs.sockets) {
          if (this.live.has(s.key)) continue;
          this.begin(s, obs.timeNs, obs.recovered ? "recovered" : "already-open", true);
        }
        return;
      case "connect":
        if (!this.live.has(obs.socket.key))
          this.begin(obs.socket, obs.timeNs, obs.whileDown ? "while-down" : "live", false);
        return;
      case "established": {
        const l = this.live.get(obs.key);
        if (!l || l.opened || l.heldSinceNs !== undefined) return;
        l.socket = { ...l.socket, local: obs.local, state: "ESTABLISHED" };
        if (obs.banners && l.socket.banners?.server === undefined) {
          l.heldSinceNs = obs.timeNs;
          this.held.add(l);
        } else this.open(l, obs.timeNs);
        return;
      }
      case "banner": {
        const l = this.live.get(obs.key);
        if (!l || l.socket.banners?.[obs.side] !== undefined) return;
        l.socket = { ...l.socket, banners: { ...l.socket.banners, [obs.side]: obs.text } };
        if (l.heldSinceNs !== undefined && obs.side === "server") this.release(l);
        return;
      }
      case "close": {
        const l = this.live.get(obs.key);
        if (!l) return;
        this.end(l, obs.timeNs, obs.oldState, obs);
        return;
      }
    }
  }

  private begin(socket: SocketFacts, timeNs: bigint, observed: Observed, open: boolean): Live {
    const resumed = observed === "already-open" ? this.resume(socket) : undefined;
    if (resumed) return resumed;
    const l: Live = { id: newId(), startNs: timeNs, socket, observed, opened: false };
    this.live.set(socket.key, l);
    this.emit(this.event("attempted", l, timeNs));
    if (open) this.open(l, timeNs);
    return l;
  }

  /** The same connection as one the last run had open: it goes on under its id, unannounced. */
  private resume(socket: SocketFacts): Live | undefined {
    const c = this.carried.get(socket.key);
    if (!c || !sameTuple(c.socket, socket)) return undefined;
    const pid = socket.owner?.pid ?? c.socket.owner?.pid;
    const now = pid === undefined ? undefined : this.opts.ownerStart?.(pid);
    if (c.ownerStart !== undefined && now !== undefined && now !== c.ownerStart) return undefined;
    this.carried.delete(socket.key);
    const l: Live = {
      id: c.id,
      startNs: BigInt(c.startNs),
      socket: { ...socket, owner: socket.owner ?? c.socket.owner },
      observed: c.observed,
      opened: true,
      ownerStart: c.ownerStart ?? now,
    };
    this.live.set(socket.key, l);
    // Enrichment reads the process now, while it lives; no record comes of it.
    this.emit(this.event("attempted", l, l.startNs));
    return l;
  }

  /** Openings that waited long enough for banners are written (the pipeline's tick, twice a second). */
  tick(nowNs: bigint): void {
    for (const l of this.held) if (nowNs - (l.heldSinceNs as bigint) >= BANNER_WAIT_NS) this.release(l);
  }

  /** Every opening still waiting for banners is written now (the daemon stops). */
  releaseAll(): void {
    for (const l of [...this.held]) this.release(l);
  }

  private release(l: Live): void {
    const at = l.heldSinceNs as bigint;
    delete l.heldSinceNs;
    this.held.delete(l);
    this.open(l, at);
  }

  private open(l: Live, timeNs: bigint): void {
    l.opened = true;
    this.dirty = true;
    this.emit(this.event("opened", l, timeNs));
  }

  private end(
    l: Live,
    timeNs: bigint,
    lastState: string,
    how: { bytesSent?: number; bytesReceived?: number; outcome?: "unknown"; afterNs?: bigint } = {},
  ): void {
    // Ended while its opening waited for banners: the opening is written first, at its own time.
    if (l.heldSinceNs !== undefined) this.release(l);
    this.live.delete(l.socket.key);
    if (l.opened) this.dirty = true;
    const unseen = how.outcome === "unknown";
    const action: Action = l.opened ? "closed" : unseen ? "unresolved" : "failed";
    const ev = this.event(action, l, timeNs);
    ev.endNs = timeNs;
    ev.lastState = lastState;
    if (unseen) ev.outcome = "unknown";
    if (how.afterNs !== undefined) ev.endWindow = { afterNs: how.afterNs, beforeNs: timeNs };
    if (how.bytesSent !== undefined) ev.bytesSent = how.bytesSent;
    if (how.bytesReceived !== undefined) ev.bytesReceived = how.bytesReceived;
    this.emit(ev);
  }

  private event(action: Action, l: Live, timeNs: bigint): ConnectionEvent {
    return {
      action,
      id: l.id,
      source: this.sourceOf(),
      timeNs,
      startNs: l.startNs,
      socket: l.socket,
      observed: l.observed,
    };
  }

  /**
   * A poll's picture. A socket still in SYN_SENT waits (no record yet); one that leaves the tables
   * before ever being seen past SYN_SENT is unresolved: refused, timed out, or a session shorter than
   * the interval, a poll cannot tell. Those open at the first picture are `already-open` (their start
   * is when we first saw them), unless they continue a connection the last run had open.
   */
  private snapshot(timeNs: bigint, sockets: readonly SocketFacts[], initial: boolean): void {
    const present = new Set<string>();
    for (const s of sockets) {
      present.add(s.key);
      let l = this.live.get(s.key);
      if (!l) l = this.begin(s, timeNs, initial && s.state !== "SYN_SENT" ? "already-open" : "live", false);
      else l.socket = { ...s, owner: s.owner ?? l.socket.owner };
      if (!l.opened && s.state !== "SYN_SENT") this.open(l, timeNs);
    }
    for (const l of [...this.live.values()]) {
      if (!present.has(l.socket.key))
        this.end(l, timeNs, l.socket.state, l.opened ? {} : { outcome: "unknown" });
    }
  }
}
