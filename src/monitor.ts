import { unlinkSync, writeFileSync } from "node:fs";
import { clock } from "./clock.ts";
import type { Config } from "./config.ts";
import { Enricher } from "./enrich/enricher.ts";
import type { LoggerError } from "./errors.ts";
import type { LogRecord, MonitorAction, MonitorEvent } from "./format/record.ts";
import type { Sink } from "./sinks/sink.ts";
import type { Diagnostics, Observation, Source } from "./sources/types.ts";
import { type ConnectionEvent, Tracker } from "./tracker.ts";
import { VERSION } from "./version.ts";

export interface MonitorParts {
  config: Config;
  source: Source;
  /** Why this source runs (shown in monitor-started and on stderr). */
  sourceReason: string;
  /** Runs instead when the source fails to start or gives up (eBPF → procfs). */
  fallback?: (() => Source) | undefined;
  format: (r: LogRecord) => string;
  sink: Sink;
  diag: Diagnostics;
}

/**
 * Wires the pipeline, source → tracker → enrich → format → sink, and owns the daemon's life: the
 * monitor-started/stopped records, the pid file, periodic stats on stderr. A fault while handling one
 * observation is counted and reported, and the next one is handled as usual.
 */
export class Monitor {
  private readonly tracker: Tracker;
  private readonly enricher = new Enricher();
  private readonly counts = { opened: 0, closed: 0, failed: 0, pipeline_errors: 0 };
  private statsTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private source: Source;
  private sourceReason: string;

  constructor(private readonly parts: MonitorParts) {
    this.source = parts.source;
    this.sourceReason = parts.sourceReason;
    this.tracker = new Tracker(parts.source.name, (ev) => this.onConnection(ev));
  }

  async start(): Promise<void> {
    const { config, diag } = this.parts;
    if (config.pidFile) writeFileSync(config.pidFile, `${process.pid}\n`, { mode: 0o644 });
    await this.startSource();
    // Written once the source is capturing: from this moment on the trail is complete.
    this.record("monitor-started", this.sourceReason);
    diag.info(
      `started: source ${this.source.name} (${this.sourceReason}), ports ${config.ports.join(",")}, ` +
        `clients ${config.clients.join(",")}, writing ${config.format} to ${config.output ?? "stdout"}`,
    );
    if (config.statsIntervalS > 0) {
      this.statsTimer = setInterval(
        () => diag.info(`stats: ${this.statsLine()}`),
        config.statsIntervalS * 1000,
      );
      this.statsTimer.unref();
    }
  }

  private async startSource(): Promise<void> {
    const { fallback } = this.parts;
    this.source.onGiveUp = fallback ? (why) => void this.degrade(fallback(), why) : undefined;
    try {
      await this.source.start((obs) => this.observe(obs));
    } catch (error) {
      if (!fallback) throw error;
      const why = `${this.source.name} failed to start: ${(error as Error).message}`;
      this.parts.diag.warn(why);
      const next = fallback();
      this.adopt(next, `${next.name}, since ${why}`);
      await next.start((obs) => this.observe(obs));
    }
  }

  /** Makes `next` the source of record. Both sources key sockets by inode, so open connections keep their ids. */
  private adopt(next: Source, reason: string): void {
    this.source = next;
    this.sourceReason = reason;
    this.tracker.source = next.name;
  }

  /** Swaps in the fallback source after the first one failed for good, saying so in the trail. */
  private async degrade(next: Source, reason: string): Promise<void> {
    if (this.stopping) return;
    await this.source.stop().catch(() => undefined);
    this.adopt(next, reason);
    this.record("monitor-degraded", reason);
    this.parts.diag.warn(`source is now ${next.name}: ${reason}`);
    await next.start((obs) => this.observe(obs));
  }

  stop(reason = "signal"): Promise<void> {
    this.stopping ??= (async () => {
      if (this.statsTimer) clearInterval(this.statsTimer);
      await this.source.stop();
      this.record("monitor-stopped", reason);
      await this.parts.sink.end();
      if (this.parts.config.pidFile) {
        try {
          unlinkSync(this.parts.config.pidFile);
        } catch {
          // already gone: nothing to tidy
        }
      }
    })();
    return this.stopping;
  }

  reopen(): void {
    this.parts.sink.reopen();
  }

  stats(): Record<string, number> {
    const s = this.source.stats();
    const out: Record<string, number> = {
      ...this.counts,
      open_connections: this.tracker.openCount,
      lines_written: this.parts.sink.stats.lines,
      reopens: this.parts.sink.stats.reopens,
    };
    for (const [k, v] of Object.entries(s))
      if (v !== undefined) out[`source_${k}`] = Math.round(v * 1000) / 1000;
    return out;
  }

  private statsLine(): string {
    return Object.entries(this.stats())
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  }

  private observe(obs: Observation): void {
    try {
      this.tracker.observe(obs);
    } catch (error) {
      this.pipelineError(error);
    }
  }

  private onConnection(ev: ConnectionEvent): void {
    try {
      const enriched = this.enricher.enrich(ev);
      if (!enriched) return;
      this.counts[enriched.action as "opened" | "closed" | "failed"]++;
      this.parts.sink.write(this.parts.format(enriched));
    } catch (error) {
      this.pipelineError(error);
    }
  }

  private pipelineError(error: unknown): void {
    this.counts.pipeline_errors++;
    const e = error as LoggerError;
    if (e.code === "ERR_SINK_FAILED") return; // the sink already escalated
    this.parts.diag.warn(
      `an event could not be handled (${this.counts.pipeline_errors} so far): ${e.stack ?? String(e)}`,
    );
  }

  private record(action: MonitorAction, reason: string): void {
    const { config } = this.parts;
    const ev: MonitorEvent = {
      action,
      timeNs: clock.nowNs(),
      version: VERSION,
      pid: process.pid,
      source: this.source.name,
      reason,
      ports: config.ports,
      clients: config.clients,
      intervalMs: config.intervalMs,
    };
    if (action !== "monitor-started") ev.stats = this.stats();
    try {
      this.parts.sink.write(this.parts.format(ev));
    } catch (error) {
      this.pipelineError(error);
    }
  }
}
