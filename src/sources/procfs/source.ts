import { clock } from "../../clock.ts";
import { pidReadFaultCount } from "../../proc-io.ts";
import { Guard } from "../guard.ts";
import { MuxWatch } from "../mux.ts";
import type { Diagnostics, NetnsScope, Source, SourceEvents, SourceStats } from "../types.ts";
import { ProcfsScanner } from "./scanner.ts";

export interface ProcfsOptions {
  intervalMs: number;
  ports: readonly number[];
  clients: readonly string[];
  diag: Diagnostics;
  /** `own`: only the daemon's network namespace (--netns own). */
  netns?: NetnsScope;
}

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
    const pidFaults = pidReadFaultCount();
    return {
      errors: (this.guard?.total ?? 0) + pidFaults + this.scanner.own.errors,
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
      netlink_dumps: this.scanner.own.dumps,
      netlink_dumps_spared: this.scanner.own.dumpsSpared,
      pid_listings_spared: this.scanner.pidListingsSpared,
      netlink_lookups: this.scanner.own.lookups,
      netlink_errors: this.scanner.own.errors,
      kind_lookups_deferred: this.scanner.own.lookupsDeferred,
      namespace_reads_deferred: this.scanner.namespacesDeferred,
      mux_lookups_skipped: this.mux.searches.skipped,
    };
  }
}
