import type { FloodPolicy } from "./config.ts";
import { Enricher } from "./enrich/enricher.ts";
import type { LoggerError } from "./errors.ts";
import { isMonitorEvent, isSuppressed, type LogRecord } from "./format/record.ts";
import type { Sink } from "./sinks/sink.ts";
import type { Diagnostics, Observation, SourceName } from "./sources/types.ts";
import { FloodGate, type SuppressedSummary } from "./track/flood.ts";
import { type SessionEvent, SessionTracker } from "./track/sessions.ts";
import {
  type CarriedConnection,
  type ConnectionEvent,
  Tracker,
  type TrackerOptions,
} from "./track/tracker.ts";

export interface PipelineParts {
  format: (r: LogRecord) => string;
  sink: Sink;
  diag: Diagnostics;
  /** The name of the source delivering now (written on each record). */
  sourceName: () => SourceName;
  tracker?: TrackerOptions;
  /** Per-user rate of connections written one by one (see flood.ts); default FLOOD_DEFAULTS. */
  flood?: FloodPolicy;
}

/**
 * source → tracker → enrich → format → sink, one observation at a time. A fault while handling one
 * observation is counted and said, and the next is handled as usual. Lines produced before `open()`
 * wait, so that the run's first record is monitor-started even though the source reported sockets
 * while it started.
 */
export class Pipeline {
  private readonly tracker: Tracker;
  private readonly sessions: SessionTracker;
  private readonly enricher = new Enricher();
  private readonly gate: FloodGate;
  readonly counts = {
    opened: 0,
    closed: 0,
    failed: 0,
    unresolved: 0,
    sessions: 0,
    suppressed_summaries: 0,
    pipeline_errors: 0,
  };
  private waiting: { line: string; tag: string }[] | undefined = [];

  constructor(private readonly parts: PipelineParts) {
    this.gate = new FloodGate(
      { pass: (ev) => this.onConnection(ev), summary: (s) => this.onSuppressed(s) },
      parts.flood,
    );
    this.tracker = new Tracker(
      parts.sourceName,
      (ev) => {
        try {
          this.gate.admit(ev);
        } catch (error) {
          this.pipelineError(error);
        }
      },
      parts.tracker,
    );
    this.sessions = new SessionTracker(
      parts.sourceName,
      (ev) => this.onSession(ev),
      (sockets) => this.tracker.idOfSocket(sockets),
    );
  }

  observe(obs: Observation): void {
    try {
      // Connects the kernel counted are the flood gate's already: no tracking, no enrichment.
      if (obs.type === "attempts") this.gate.countedBySource(obs);
      else if (!this.sessions.observe(obs)) this.tracker.observe(obs);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /**
   * Connections the last run had open (from the state file, saved at `savedNs`): a socket the source
   * reports open that matches one continues it (see Tracker.carryOver); `settle()` ends the rest.
   */
  resume(connections: readonly CarriedConnection[], savedNs: bigint): void {
    this.tracker.carryOver(connections, savedNs);
  }

  /** After the source's first picture: what the last run had open and is gone ended while we were down. */
  settle(nowNs: bigint): number {
    return this.tracker.settle(nowNs);
  }

  /** Whether the open connections changed since `openConnections()` was last read. */
  get changed(): boolean {
    return this.tracker.dirty;
  }

  /** What the state file should hold now: every open connection. */
  openConnections(): CarriedConnection[] {
    return this.tracker.openConnections();
  }

  /** Gauges for the stats: connections and sessions open now. */
  get openNow(): { connections: number; sessions: number } {
    return { connections: this.tracker.openCount, sessions: this.sessions.openCount };
  }

  /** Formats and writes one record (or keeps it until `open()`). */
  write(r: LogRecord, first = false): void {
    try {
      const line = this.parts.format(r);
      const tag = `${userOf(r)}:${r.action}`;
      if (this.waiting && !first) this.waiting.push({ line, tag });
      else this.parts.sink.write(line, tag);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /** From now on lines go straight to the sink; those kept go first. */
  open(): void {
    const kept = this.waiting ?? [];
    this.waiting = undefined;
    for (const k of kept) this.parts.sink.write(k.line, k.tag);
  }

  /**
   * Openings that waited for their banners long enough are written; held connections that turned out to
   * be sessions go on; flood summaries due are written.
   */
  tick(nowNs: bigint): void {
    try {
      this.tracker.tick(nowNs);
      this.gate.tick(nowNs, this.parts.sourceName());
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /** Connections held back by the flood gate now, and what it has counted. */
  get flood(): { held: number; suppressed: number; promoted: number } {
    const c = this.gate.counts;
    return { held: this.gate.heldCount, suppressed: c.suppressed, promoted: c.promoted };
  }

  private onConnection(ev: ConnectionEvent): void {
    try {
      const enriched = this.enricher.enrich(ev);
      if (!enriched) return;
      this.counts[enriched.action as "opened" | "closed" | "failed" | "unresolved"]++;
      this.write(enriched);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /** At stop, before the state is saved: openings waiting for their banners are written now. */
  releaseOpenings(): void {
    try {
      this.tracker.releaseAll();
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /** At stop: sessions still running are written with their end unknown, flood summaries at once. */
  stopSessions(nowNs: bigint): void {
    try {
      this.gate.flush(nowNs, this.parts.sourceName());
      this.sessions.stop(nowNs);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  private onSuppressed(s: SuppressedSummary): void {
    if (s.uid !== undefined) s.user = this.enricher.users.name(s.uid);
    this.counts.suppressed_summaries++;
    this.write(s);
  }

  private onSession(ev: SessionEvent): void {
    try {
      if (ev.action === "session-started" && ev.viaConnectionId !== undefined) {
        this.enricher.markMaster(ev.viaConnectionId, ev.session.controlPath);
      }
      const enriched = this.enricher.enrichSession(ev);
      if (!enriched) return;
      this.counts.sessions++;
      this.write(enriched);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  private pipelineError(error: unknown): void {
    this.counts.pipeline_errors++;
    const e = error as LoggerError;
    this.parts.diag.warn(
      `an event could not be handled (${this.counts.pipeline_errors} so far): ${e.stack ?? String(e)}`,
    );
  }
}

/** Whose record it is, for counting what a full queue drops: the user, else the daemon's own. */
function userOf(r: LogRecord): string {
  if (isMonitorEvent(r)) return "monitor";
  if (isSuppressed(r)) return r.user ?? String(r.uid ?? "unknown");
  return r.process?.user ?? (r.process?.uid !== undefined ? String(r.process.uid) : "unknown");
}
