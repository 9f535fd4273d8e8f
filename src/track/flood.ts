import { FLOOD_DEFAULTS, type FloodPolicy } from "../config.ts";
import type { CountedDestination, Endpoint, SourceName } from "../sources/types.ts";
import { UserBuckets } from "../user-buckets.ts";
import { type ConnectionEvent, isEnd } from "./tracker.ts";

/**
 * Floods keep their evidence, bounded (issue 19). Each user (the socket's uid, which the kernel gives
 * and the user cannot choose) has a token bucket of connections: within it every connection is
 * enriched and written as usual. Beyond it a new connection is held back, unenriched (reading /proc
 * per connect is what a flood would make us pay): if it is still open after `holdMs` it is a session,
 * not a flood, and is let through with its true times; if it ends first it is counted in the user's
 * `connections-suppressed` summary (count, outcomes, the processes and destinations, the interval).
 * Every connection is a record or is counted in one. Connections open before we looked pass always.
 */
/** Distinct processes and destinations listed in a summary; beyond, only counted. */
export const SUMMARY_LIST_MAX = 16;
/** Distinct values counted exactly per summary; beyond, the count is a lower bound (`countCapped`). */
const DISTINCT_MAX = 10_000;

export interface SuppressedSummary {
  action: "connections-suppressed";
  /** When the summary was written; the interval is startNs..endNs (first and last counted end). */
  timeNs: bigint;
  startNs: bigint;
  endNs: bigint;
  source: SourceName;
  uid: number | undefined;
  /** The user's name, added by the pipeline (it knows the host's users). */
  user?: string;
  count: number;
  outcomes: { closed: number; failed: number; unresolved: number };
  processes: { pid: number; name?: string }[];
  processCount: number;
  destinations: Endpoint[];
  destinationCount: number;
  /** A distinct count reached DISTINCT_MAX: the counts are lower bounds. */
  countCapped?: true;
}

class Window {
  count = 0;
  startNs: bigint;
  endNs: bigint;
  readonly outcomes = { closed: 0, failed: 0, unresolved: 0 };
  private readonly pids = new Map<number, string | undefined>();
  /** Distinct destinations, keyed by address and port. */
  private readonly dests = new Map<string, Endpoint>();
  capped = false;

  constructor(
    readonly uid: number | undefined,
    nowNs: bigint,
  ) {
    this.startNs = nowNs;
    this.endNs = nowNs;
  }

  add(ev: ConnectionEvent): void {
    this.count++;
    if (ev.timeNs > this.endNs) this.endNs = ev.timeNs;
    if (ev.startNs < this.startNs) this.startNs = ev.startNs;
    const o = ev.action === "closed" || ev.action === "failed" ? ev.action : "unresolved";
    this.outcomes[o]++;
    const owner = ev.socket.owner;
    if (owner) this.process(owner.pid, owner.comm);
    this.destination(ev.socket.remote);
  }

  /**
   * Connects the kernel counted (failed before they were established): `count` of them, `unlisted` of
   * which have no destination here (its map was full: the destinations are then a lower bound).
   */
  addCounted(count: number, unlisted: number, lastNs: bigint, dests: readonly CountedDestination[]): void {
    this.count += count;
    this.outcomes.failed += count;
    if (lastNs > this.endNs) this.endNs = lastNs;
    if (unlisted > 0) this.capped = true;
    for (const d of dests) {
      if (d.firstNs < this.startNs) this.startNs = d.firstNs;
      if (d.lastNs > this.endNs) this.endNs = d.lastNs;
      this.process(d.pid, d.comm);
      this.destination(d.remote);
    }
  }

  private process(pid: number, name: string | undefined): void {
    if (this.pids.has(pid)) return;
    if (this.pids.size < DISTINCT_MAX) this.pids.set(pid, name);
    else this.capped = true;
  }

  private destination(r: Endpoint): void {
    const d = `${r.ip}|${r.port}`;
    if (this.dests.has(d)) return;
    if (this.dests.size < DISTINCT_MAX) this.dests.set(d, { ip: r.ip, port: r.port });
    else this.capped = true;
  }

  summary(nowNs: bigint, source: SourceName): SuppressedSummary {
    const processes: { pid: number; name?: string }[] = [];
    for (const [pid, name] of this.pids) {
      if (processes.length >= SUMMARY_LIST_MAX) break;
      processes.push(name === undefined ? { pid } : { pid, name });
    }
    const destinations: Endpoint[] = [];
    for (const d of this.dests.values()) {
      if (destinations.length >= SUMMARY_LIST_MAX) break;
      destinations.push(d);
    }
    const s: SuppressedSummary = {
      action: "connections-suppressed",
      timeNs: nowNs,
      startNs: this.startNs,
      endNs: this.endNs,
      source,
      uid: this.uid,
      count: this.count,
      outcomes: { ...this.outcomes },
      processes,
      processCount: this.pids.size,
      destinations,
      destinationCount: this.dests.size,
    };
    if (this.capped) s.countCapped = true;
    return s;
  }
}

export interface FloodOutput {
  /** Events to go on down the pipeline (a connection let through, in order). */
  pass(ev: ConnectionEvent): void;
  summary(s: SuppressedSummary): void;
}

export class FloodGate {
  private readonly buckets: UserBuckets;
  /** Connections let through: all their later events pass. */
  private readonly passed = new Set<string>();
  /** Connections held: their events so far, and when the first came. */
  private readonly held = new Map<string, { events: ConnectionEvent[]; sinceNs: bigint }>();
  /**
   * Connections counted before they ended (the held map was full): their later events are part of
   * that count. Bounded like the held map; past both bounds a connection is counted and its later
   * events go through as they come (its end then written on its own: counted twice, never lost).
   */
  private readonly counted = new Set<string>();
  private readonly windows = new Map<number | undefined, Window>();
  readonly counts = { suppressed: 0, promoted: 0, summaries: 0 };

  constructor(
    private readonly out: FloodOutput,
    private readonly policy: FloodPolicy = FLOOD_DEFAULTS,
  ) {
    this.buckets = new UserBuckets(policy.rate, policy.burst);
  }

  get heldCount(): number {
    return this.held.size;
  }

  admit(ev: ConnectionEvent): void {
    if (this.policy.rate === 0 || this.passed.has(ev.id)) {
      if (isEnd(ev.action)) this.passed.delete(ev.id);
      this.out.pass(ev);
      return;
    }
    if (this.counted.has(ev.id)) {
      if (isEnd(ev.action)) this.counted.delete(ev.id);
      return;
    }
    const h = this.held.get(ev.id);
    if (h) {
      if (isEnd(ev.action)) {
        this.held.delete(ev.id);
        this.count(ev);
      } else h.events.push(ev);
      return;
    }
    const uid = ev.socket.uid ?? ev.socket.owner?.uid;
    if (ev.observed !== "live" || this.buckets.take(uid ?? -1, ev.timeNs)) {
      if (!isEnd(ev.action)) this.passed.add(ev.id);
      this.out.pass(ev);
      return;
    }
    if (isEnd(ev.action) || this.held.size >= this.policy.maxHeld) {
      this.count(ev);
      if (!isEnd(ev.action) && this.counted.size < this.policy.maxHeld) this.counted.add(ev.id);
      return;
    }
    this.held.set(ev.id, { events: [ev], sinceNs: ev.timeNs });
  }

  /**
   * Held connections still open after the hold time go through; summaries whose window has run out
   * are written. Called at least once a second.
   */
  tick(nowNs: bigint, source: SourceName): void {
    const hold = BigInt(this.policy.holdMs) * 1_000_000n;
    for (const [id, h] of this.held) {
      if (nowNs - h.sinceNs < hold) continue;
      this.held.delete(id);
      this.passed.add(id);
      this.counts.promoted++;
      for (const ev of h.events) this.out.pass(ev);
    }
    const windowNs = BigInt(this.policy.windowMs) * 1_000_000n;
    for (const [uid, w] of this.windows) {
      if (nowNs - w.startNs < windowNs) continue;
      this.flushWindow(uid, w, nowNs, source);
    }
  }

  /** At stop: every summary now, and held connections let through (they are open: a reader must see them). */
  flush(nowNs: bigint, source: SourceName): void {
    for (const [id, h] of this.held) {
      this.passed.add(id);
      this.counts.promoted++;
      for (const ev of h.events) this.out.pass(ev);
    }
    this.held.clear();
    for (const [uid, w] of this.windows) this.flushWindow(uid, w, nowNs, source);
  }

  private flushWindow(uid: number | undefined, w: Window, nowNs: bigint, source: SourceName): void {
    this.windows.delete(uid);
    this.counts.summaries++;
    this.out.summary(w.summary(nowNs, source));
  }

  /** Connects the source counted itself (the kernel, beyond the same rate): into the user's summary. */
  countedBySource(c: {
    uid: number;
    count: number;
    unlisted: number;
    lastNs: bigint;
    destinations: readonly CountedDestination[];
  }): void {
    this.counts.suppressed += c.count;
    let first = c.lastNs;
    for (const d of c.destinations) if (d.firstNs < first) first = d.firstNs;
    this.window(c.uid, first).addCounted(c.count, c.unlisted, c.lastNs, c.destinations);
  }

  private count(ev: ConnectionEvent): void {
    this.counts.suppressed++;
    this.window(ev.socket.uid ?? ev.socket.owner?.uid, ev.startNs).add(ev);
  }

  private window(uid: number | undefined, startNs: bigint): Window {
    let w = this.windows.get(uid);
    if (!w) {
      w = new Window(uid, startNs);
      this.windows.set(uid, w);
    }
    return w;
  }
}
