import { newId } from "../ids.ts";
import type { MuxSession, Observation, SourceName } from "../sources/types.ts";
import type { TrailEvent } from "./tracker.ts";

/**
 * A session over an existing connection, from its start to its end, with one UUIDv7. `started` carries
 * no record (enrichment reads the client while it lives); `ended` is the one `ssh-session` record.
 */
export interface SessionEvent extends TrailEvent {
  action: "session-started" | "session-ended";
  session: MuxSession;
  /** The id of the master's TCP connection, when it is one we log. */
  viaConnectionId?: string;
}

interface Open {
  id: string;
  startNs: bigint;
  session: MuxSession;
  via?: string;
}

/** Observations of multiplexed sessions → session events. `viaOf` names the master's connection. */
export class SessionTracker {
  private readonly open = new Map<string, Open>();

  constructor(
    /** The source named on each event (see Tracker). */
    private readonly sourceOf: () => SourceName,
    private readonly emit: (ev: SessionEvent) => void,
    private readonly viaOf: (sockets: readonly number[]) => string | undefined,
  ) {}

  get openCount(): number {
    return this.open.size;
  }

  observe(obs: Observation): boolean {
    if (obs.type === "session-open") {
      if (this.open.has(obs.session.key)) return true;
      const o: Open = { id: newId(), startNs: obs.timeNs, session: obs.session };
      const via = this.viaOf(obs.session.masterSockets);
      if (via !== undefined) o.via = via;
      this.open.set(obs.session.key, o);
      this.emit(this.event("session-started", o, obs.timeNs));
      return true;
    }
    if (obs.type === "session-close") {
      const o = this.open.get(obs.key);
      if (!o) return true;
      this.open.delete(obs.key);
      const ev = this.event("session-ended", o, obs.timeNs);
      ev.endNs = obs.timeNs;
      if (obs.afterNs !== undefined) ev.endWindow = { afterNs: obs.afterNs, beforeNs: obs.timeNs };
      this.emit(ev);
      return true;
    }
    return false;
  }

  /** At stop: the sessions still running are written, their end unknown. */
  stop(nowNs: bigint): void {
    for (const o of this.open.values()) {
      const ev = this.event("session-ended", o, nowNs);
      ev.outcome = "unknown";
      this.emit(ev);
    }
    this.open.clear();
  }

  private event(action: SessionEvent["action"], o: Open, timeNs: bigint): SessionEvent {
    const ev: SessionEvent = {
      action,
      id: o.id,
      source: this.sourceOf(),
      timeNs,
      startNs: o.startNs,
      session: o.session,
    };
    if (o.via !== undefined) ev.viaConnectionId = o.via;
    return ev;
  }
}
