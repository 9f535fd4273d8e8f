import { Enricher } from "./enrich/enricher.ts";
import type { LoggerError } from "./errors.ts";
import type { LogRecord } from "./format/record.ts";
import { type SessionEvent, SessionTracker } from "./session-tracker.ts";
import type { Sink } from "./sinks/sink.ts";
import type { Diagnostics, Observation, SourceName } from "./sources/types.ts";
import { type ConnectionEvent, Tracker, type TrackerOptions } from "./tracker.ts";

export interface PipelineParts {
  format: (r: LogRecord) => string;
  sink: Sink;
  diag: Diagnostics;
  /** The name of the source delivering now (written on each record). */
  sourceName: () => SourceName;
  tracker?: TrackerOptions;
}

/**
 * source → tracker → enrich → format → sink, one observation at a time. A fault while handling one
 * observation is counted and said, and the next is handled as usual. Lines produced before `open()`
 * wait, so that the run's first record is monitor-started even though the source reported sockets
 * while it started.
 */
export class Pipeline {
  readonly tracker: Tracker;
  readonly sessions: SessionTracker;
  private readonly enricher = new Enricher();
  readonly counts = { opened: 0, closed: 0, failed: 0, unresolved: 0, sessions: 0, pipeline_errors: 0 };
  private waiting: string[] | undefined = [];

  constructor(private readonly parts: PipelineParts) {
    this.tracker = new Tracker(parts.sourceName(), (ev) => this.onConnection(ev), parts.tracker);
    this.sessions = new SessionTracker(
      parts.sourceName(),
      (ev) => this.onSession(ev),
      (sockets) => this.tracker.idOfSocket(sockets),
    );
  }

  observe(obs: Observation): void {
    try {
      this.tracker.source = this.parts.sourceName();
      this.sessions.source = this.tracker.source;
      if (!this.sessions.observe(obs)) this.tracker.observe(obs);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /** Formats and writes one record (or keeps it until `open()`). */
  write(r: LogRecord, first = false): void {
    try {
      const line = this.parts.format(r);
      if (this.waiting && !first) this.waiting.push(line);
      else this.parts.sink.write(line);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  /** From now on lines go straight to the sink; those kept go first. */
  open(): void {
    const kept = this.waiting ?? [];
    this.waiting = undefined;
    for (const line of kept) this.parts.sink.write(line);
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

  /** At stop: sessions still running are written with their end unknown. */
  stopSessions(nowNs: bigint): void {
    try {
      this.sessions.stop(nowNs);
    } catch (error) {
      this.pipelineError(error);
    }
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
