import { v7 as uuidv7 } from "uuid";
import type { Observation, SocketFacts, SourceName } from "./sources/types.ts";

/**
 * Turns observations into the life of a connection, each with one UUIDv7 from attempt to end:
 *   attempted → (opened → closed) | failed
 * `attempted` carries no record of its own; it lets enrichment read the process while it still lives
 * (a failed connect or a 1 ms session can end before the next stage would otherwise look).
 */

export type Action = "attempted" | "opened" | "closed" | "failed";
export type Observed = "live" | "already-open";

export interface ConnectionEvent {
  action: Action;
  id: string;
  source: SourceName;
  /** When this transition happened (ns since the epoch). */
  timeNs: bigint;
  /** When the connection attempt was first seen. */
  startNs: bigint;
  /** On closed/failed. */
  endNs?: bigint;
  socket: SocketFacts;
  observed: Observed;
  bytesSent?: number;
  bytesReceived?: number;
  /** On closed/failed: the TCP state the socket left for CLOSE, as the kernel reported it. */
  lastState?: string;
}

interface Live {
  id: string;
  startNs: bigint;
  socket: SocketFacts;
  observed: Observed;
  opened: boolean;
}

export class Tracker {
  private readonly live = new Map<string, Live>();

  constructor(
    /** Named on each event; changes when the monitor falls back to another source. */
    public source: SourceName,
    private readonly emit: (ev: ConnectionEvent) => void,
  ) {}

  get openCount(): number {
    let n = 0;
    for (const l of this.live.values()) if (l.opened) n++;
    return n;
  }

  get pendingCount(): number {
    return this.live.size - this.openCount;
  }

  observe(obs: Observation): void {
    switch (obs.type) {
      case "snapshot":
        this.snapshot(obs.timeNs, obs.sockets, obs.initial);
        return;
      case "existing":
        for (const s of obs.sockets) {
          if (!this.live.has(s.key)) this.begin(s, obs.timeNs, "already-open", true);
        }
        return;
      case "connect":
        if (!this.live.has(obs.socket.key)) this.begin(obs.socket, obs.timeNs, "live", false);
        return;
      case "established": {
        const l = this.live.get(obs.key);
        if (!l || l.opened) return;
        l.socket = { ...l.socket, local: obs.local, state: "ESTABLISHED" };
        this.open(l, obs.timeNs);
        return;
      }
      case "close": {
        const l = this.live.get(obs.key);
        if (!l) return;
        this.end(l, obs.timeNs, obs.oldState, obs.bytesSent, obs.bytesReceived);
        return;
      }
    }
  }

  private begin(socket: SocketFacts, timeNs: bigint, observed: Observed, open: boolean): Live {
    const l: Live = { id: uuidv7(), startNs: timeNs, socket, observed, opened: false };
    this.live.set(socket.key, l);
    this.emit(this.event("attempted", l, timeNs));
    if (open) this.open(l, timeNs);
    return l;
  }

  private open(l: Live, timeNs: bigint): void {
    l.opened = true;
    this.emit(this.event("opened", l, timeNs));
  }

  private end(l: Live, timeNs: bigint, lastState: string, sent?: number, received?: number): void {
    this.live.delete(l.socket.key);
    const ev = this.event(l.opened ? "closed" : "failed", l, timeNs);
    ev.endNs = timeNs;
    ev.lastState = lastState;
    if (sent !== undefined) ev.bytesSent = sent;
    if (received !== undefined) ev.bytesReceived = received;
    this.emit(ev);
  }

  private event(action: Action, l: Live, timeNs: bigint): ConnectionEvent {
    return {
      action,
      id: l.id,
      source: this.source,
      timeNs,
      startNs: l.startNs,
      socket: l.socket,
      observed: l.observed,
    };
  }

  /**
   * A poll's picture. A socket still in SYN_SENT waits (no record yet); one that leaves the tables
   * before ever being seen past SYN_SENT is a failed attempt. Those already open at the first picture
   * are marked `already-open`: their start is when we first saw them, not when they began.
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
      if (!present.has(l.socket.key)) this.end(l, timeNs, l.socket.state);
    }
  }
}
