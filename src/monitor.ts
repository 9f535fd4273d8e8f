import { clock } from "./clock.ts";
import { type Config, floodPolicy } from "./config.ts";
import { readStat } from "./enrich/process.ts";
import type { LogRecord, MonitorAction, MonitorEvent } from "./format/record.ts";
import { removeIfOurs, replaceFile } from "./fs-safe.ts";
import type { MetricsFile } from "./metrics.ts";
import { Pipeline } from "./pipeline.ts";
import type { Recovery, Sink } from "./sinks/sink.ts";
import type { Diagnostics, Source } from "./sources/types.ts";
import type { StateStore } from "./track/state.ts";
import { VERSION } from "./version.ts";

export interface MonitorParts {
  config: Config;
  source: Source;
  format: (r: LogRecord) => string;
  /** Made by the monitor, which writes the output-recovered record its outages end with. */
  sink: (onRecovered: (r: Recovery) => void) => Sink;
  diag: Diagnostics;
  /** Continuity across restarts; none: every start sees open connections as new. */
  state?: StateStore | undefined;
  /** Called when the daemon must end (its source failed for good); the caller exits with `code`. */
  onFatal?: (reason: string) => void;
  /** The daemon's health for Prometheus (--metrics-file), rewritten every 10 s and at stop. */
  metrics?: MetricsFile | undefined;
}

/** How often the metrics file is rewritten (node_exporter reads it at each scrape). */
const METRICS_EVERY_MS = 10_000;

const ownerStart = (pid: number): string | undefined => {
  const s = readStat(pid);
  return s === undefined ? undefined : String(s.startTicks);
};

/**
 * The daemon's life around the pipeline: the pid file, the state file (loaded at start, saved at most
 * once a second while connections change, and at stop), monitor-started/stopped/degraded and
 * output-recovered records, and periodic stats on stderr. Knows no source by name.
 */
export class Monitor {
  readonly pipeline: Pipeline;
  private readonly sink: Sink;
  private statsTimer: NodeJS.Timeout | undefined;
  private metricsTimer: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private floodTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private pidIno: number | undefined;

  constructor(private readonly parts: MonitorParts) {
    this.sink = parts.sink((r) =>
      this.record("output-recovered", `writing works again after ${r.error}`, {
        outage: {
          sinceNs: BigInt(r.sinceMs) * 1_000_000n,
          untilNs: BigInt(r.untilMs) * 1_000_000n,
          held: r.held,
          dropped: r.dropped,
          droppedBy: r.droppedBy,
          error: r.error,
        },
      }),
    );
    this.pipeline = new Pipeline({
      format: parts.format,
      sink: this.sink,
      diag: parts.diag,
      sourceName: () => parts.source.name,
      tracker: { ownerStart },
      flood: floodPolicy(parts.config.userRate),
    });
  }

  async start(): Promise<void> {
    const { config, diag, source, state } = this.parts;
    if (config.pidFile) this.pidIno = replaceFile(config.pidFile, `${process.pid}\n`, 0o644);
    const saved = state?.load();
    const pipeline = this.pipeline;
    let note: string | undefined;
    if (saved?.otherBoot) note = "the state file is from another boot: its connections ended with it";
    if (saved) pipeline.resume(saved.connections, saved.savedNs);
    const carried = saved?.connections.length ?? 0;
    await source.start({
      emit: (obs) => this.pipeline.observe(obs),
      degraded: (why) => this.degraded(why),
      failed: (error) => this.failed(error),
      lost: (loss) => this.record("events-lost", `the source lost events (${loss.stage})`, { loss }),
    });
    const closedWhileDown = pipeline.settle(clock.nowNs());
    // Written once the source is capturing: from this moment on the trail is complete. It is the
    // run's first record; what the source reported while starting follows it.
    const extra: Partial<MonitorEvent> = {};
    if (state) {
      extra.continuity = { stateFile: state.path, resumed: carried - closedWhileDown, closedWhileDown };
      if (note) extra.continuity.note = note;
    }
    this.record("monitor-started", source.reason, extra, true);
    this.pipeline.open();
    // The flood gate lets held sessions through and writes due summaries (flood.ts).
    this.floodTimer = setInterval(() => this.pipeline.tick(clock.nowNs()), 500);
    this.floodTimer.unref();
    diag.info(
      `started: source ${source.name} (${source.reason}), ports ${config.ports.join(",")}, ` +
        `clients ${config.clients.join(",")}, writing ${config.format} to ${config.output ?? "stdout"}` +
        (state
          ? `; ${carried - closedWhileDown} connections continued, ${closedWhileDown} ended while down`
          : ""),
    );
    if (state) {
      this.saveState();
      this.stateTimer = setInterval(() => {
        if (pipeline.changed) this.saveState();
      }, 1000);
      this.stateTimer.unref();
    }
    if (this.parts.metrics) {
      this.writeMetrics();
      this.metricsTimer = setInterval(() => this.writeMetrics(), METRICS_EVERY_MS);
      this.metricsTimer.unref();
    }
    if (config.statsIntervalS > 0) {
      this.statsTimer = setInterval(
        () => diag.info(`stats: ${this.statsLine()}`),
        config.statsIntervalS * 1000,
      );
      this.statsTimer.unref();
    }
  }

  stop(reason = "signal"): Promise<void> {
    this.stopping ??= (async () => {
      if (this.statsTimer) clearInterval(this.statsTimer);
      if (this.metricsTimer) clearInterval(this.metricsTimer);
      if (this.stateTimer) clearInterval(this.stateTimer);
      if (this.floodTimer) clearInterval(this.floodTimer);
      await this.parts.source
        .stop()
        .catch((error: Error) => this.parts.diag.warn(`stopping the source: ${error.message}`));
      this.pipeline.releaseOpenings();
      if (this.parts.state) this.saveState();
      this.pipeline.open();
      this.pipeline.stopSessions(clock.nowNs());
      this.record("monitor-stopped", reason);
      await this.sink.end();
      this.writeMetrics();
      if (this.parts.config.pidFile) removeIfOurs(this.parts.config.pidFile, this.pidIno);
    })();
    return this.stopping;
  }

  reopen(): void {
    this.sink.reopen();
  }

  stats(): Record<string, number> {
    const s = this.parts.source.stats();
    const sink = this.sink.stats;
    const out: Record<string, number> = {
      ...this.pipeline.counts,
      open_connections: this.pipeline.openNow.connections,
      open_sessions: this.pipeline.openNow.sessions,
      lines_written: sink.lines,
      reopens: sink.reopens,
      reopens_found: sink.reopens_found,
      write_errors: sink.write_errors,
      write_outages: sink.outages,
      records_held: sink.held,
      records_dropped: sink.dropped,
      last_write_ms: sink.last_write_ms,
      flood_held: this.pipeline.flood.held,
      flood_suppressed: this.pipeline.flood.suppressed,
      flood_promoted: this.pipeline.flood.promoted,
    };
    if (this.parts.state) {
      out.state_saves = this.parts.state.saves;
      out.state_failures = this.parts.state.failures;
    }
    for (const [k, v] of Object.entries(s))
      if (v !== undefined) out[`source_${k}`] = Math.round(v * 1000) / 1000;
    return out;
  }

  private writeMetrics(): void {
    this.parts.metrics?.write({ stats: this.stats(), source: this.parts.source.name });
  }

  private statsLine(): string {
    return Object.entries(this.stats())
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  }

  private saveState(): void {
    this.parts.state?.save(this.pipeline.openConnections(), clock.nowNs());
  }

  private degraded(why: string): void {
    if (this.stopping) return;
    this.record("monitor-degraded", why);
    this.parts.diag.warn(`degraded: ${why}`);
  }

  /** The source stopped for good and nothing took over: say so, and end (the service manager restarts us). */
  private failed(error: Error): void {
    if (this.stopping) return;
    const why = `the source stopped: ${error.message}`;
    this.record("monitor-degraded", why);
    this.parts.diag.warn(why);
    this.parts.onFatal?.(why);
  }

  private record(
    action: MonitorAction,
    reason: string,
    extra: Partial<MonitorEvent> = {},
    first = false,
  ): void {
    const { config, source } = this.parts;
    const ev: MonitorEvent = {
      action,
      timeNs: clock.nowNs(),
      version: VERSION,
      pid: process.pid,
      source: source.name,
      reason,
      ports: config.ports,
      clients: config.clients,
      intervalMs: config.intervalMs,
      ...extra,
    };
    if (action === "monitor-stopped" || action === "monitor-degraded") ev.stats = this.stats();
    this.pipeline.write(ev, first);
  }
}
