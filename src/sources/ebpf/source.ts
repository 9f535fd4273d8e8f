import { clock } from "../../clock.ts";
import { pidReadFaultCount } from "../../proc-io.ts";
import { Guard } from "../guard.ts";
import { MuxWatch } from "../mux.ts";
import { ProcfsScanner } from "../procfs/scanner.ts";
import type { Diagnostics, NetnsScope, ProtocolMode, Source, SourceEvents, SourceStats } from "../types.ts";
import { KernelTable } from "./kernel-table.ts";
import { OwnNetnsFilter } from "./netns-filter.ts";
import { BpfProbe, type ProbeInfo, pinnedProbe } from "./probe.ts";

function pinnedWords(pin: ProbeInfo["pin"] | undefined): string {
  switch (pin) {
    case "fresh":
      return ", pinned";
    case "reused":
      return ", pinned, taken over from the last run";
    case "replaced":
      return ", pinned in place of another version's probe (drained first)";
    default:
      return "";
  }
}

export interface EbpfOptions {
  ports: readonly number[];
  clients: readonly string[];
  diag: Diagnostics;
  /** Each user's rate of connects beyond which failed ones are counted in the kernel (the flood gate's). */
  flood?: { rate: number; burst: number };
  /** Where the probe stays pinned between runs (--pin); absent: it goes with the daemon. */
  pinDir?: string | undefined;
  /** How often /proc is polled while the probe is down (ms; the procfs interval). */
  intervalMs?: number;
  /** `own`: only the daemon's network namespace's sockets (--netns own); the probe sees every one. */
  netns?: NetnsScope;
  /** SSH recognised by its protocol too (--protocol). */
  protocol?: ProtocolMode;
  maxFailures?: number;
  failureWindowMs?: number;
  backoffMs?: number;
}

/**
 * The event-driven source: our BPF program (BpfProbe) feeding a KernelTable. Around them:
 *   - at start, sockets already open come once from /proc (`existing`);
 *   - once a second, sockets whose close the probe cannot report, and after lost events every socket,
 *     are checked against /proc (loss repaired, not only counted);
 *   - while the probe is down (crashed, restarting), /proc is polled at the procfs interval, so a
 *     connection made meanwhile is still logged; the trail has no unwatched window;
 *   - every callback runs under a Guard: a fault is counted and said, never the end of the source.
 */
export class EbpfSource implements Source {
  readonly name = "ebpf" as const;
  reason = "ebpf";
  private readonly scanner: ProcfsScanner;
  private readonly mux: MuxWatch;
  private table: KernelTable | undefined;
  private netns: OwnNetnsFilter | undefined;
  private probe: BpfProbe | undefined;
  private guard: Guard | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private readonly counters = {
    lost: 0,
    lost_ring_buffer: 0,
    lost_hand_over: 0,
    gaps: 0,
    gap_polls: 0,
    kernel_counted: 0,
  };
  private pictured = false;
  /** When the probe's loss counters were last read: a loss it reports happened after this. */
  private lastLossPoll: bigint | undefined;

  constructor(private readonly opts: EbpfOptions) {
    this.scanner = new ProcfsScanner({
      ports: opts.ports,
      clients: opts.clients,
      diag: opts.diag,
      ...(opts.netns ? { netns: opts.netns } : {}),
    });
    this.mux = new MuxWatch(new Set(opts.clients));
  }

  async start(events: SourceEvents): Promise<void> {
    const guard = new Guard({
      diag: this.opts.diag,
      what: "eBPF source",
      onDegraded: (why) => events.degraded(why),
    });
    this.guard = guard;
    const table = new KernelTable(
      (obs) => events.emit(obs),
      this.opts.ports,
      () => (this.probe?.info?.protocol ?? "off") !== "off",
    );
    this.table = table;
    const netns = this.opts.netns === "own" ? OwnNetnsFilter.forSelf() : undefined;
    if (this.opts.netns === "own" && !netns) throw new Error("--netns own: /proc/self/ns/net cannot be read");
    this.netns = netns;
    const probe = new BpfProbe(this.opts, {
      event: (ev) => guard.run(() => (!netns || netns.keep(ev) ? table.event(ev) : undefined)),
      client: (ev) =>
        guard.run(() => {
          const obs =
            ev.kind === "exit"
              ? this.mux.exited(ev.pid, ev.timeNs)
              : this.mux.connected(ev.pid, ev.path, ev.timeNs, {
                  pid: ev.pid,
                  comm: ev.comm,
                  uid: ev.uid,
                  ppid: ev.ppid,
                  parentComm: ev.parentComm,
                });
          if (obs) events.emit(obs);
        }),
      // Their records were never made: the sockets are compared with the kernel's tables, and those
      // gone are closed as repaired, as after a loss (counted as kernel_skipped, not as lost records).
      skipped: () => table.lost(clock.nowNs()),
      lost: (n, stage, sinceNs) => {
        this.counters.lost += n;
        if (stage === "ring-buffer") this.counters.lost_ring_buffer += n;
        else this.counters.lost_hand_over += n;
        const now = clock.nowNs();
        table.lost(now);
        // The count is read once a second: the loss happened since the last read (or, read first
        // from a probe taken over, since the last daemon stopped reading it).
        events.lost?.({ stage, count: n, sinceNs: sinceNs ?? this.lastLossPoll ?? now, untilNs: now });
      },
      counted: (users) =>
        guard.run(() => {
          const now = clock.nowNs();
          for (const u of users) {
            this.counters.kernel_counted += u.count;
            events.emit({ type: "attempts", timeNs: now, ...u });
          }
        }),
      down: () => {
        table.probeDown();
        this.watchGap(true);
      },
      up: () => {
        this.opts.diag.info(
          `the eBPF probe is attached again (reopen ${probe.counters.reopens}); /proc polling stops`,
        );
        this.watchGap(false);
        // What connected between the last poll and the attach, and what closed meanwhile.
        guard.run(() => this.picture());
      },
      gaveUp: (error) => {
        this.watchGap(false);
        events.failed(error);
      },
    });
    this.probe = probe;
    // A probe pinned by the last daemon of this version never stopped: taken over, it has every
    // connection made meanwhile in its ring, read first. Otherwise /proc is polled from the first moment
    // until the probe is attached (tens of milliseconds), so a connection made while we start is not
    // missed; the first picture is what was already open.
    const pinned = this.opts.pinDir === undefined ? null : pinnedProbe(this.opts.pinDir);
    if (!pinned?.ours) this.watchGap(true);
    try {
      await probe.start();
    } finally {
      this.watchGap(false);
    }
    this.reason = `${this.reason} on ${
      probe.info?.attach === "tracefs"
        ? "the tracefs tracepoint sock:inet_sock_set_state"
        : "tp_btf/inet_sock_set_state"
    }${pinnedWords(probe.info?.pin)}${
      probe.info?.protocol === "socket"
        ? ", SSH recognised by its protocol too (tp_btf/tcp_sendmsg_locked and tp_btf/tcp_probe)"
        : probe.info?.protocol === "packets"
          ? ", SSH recognised by its protocol too (cgroup_skb on the cgroup v2 root)"
          : ""
    }`;
    // What came while no daemon read the probe, in the order it came, before the picture: a connection
    // made meanwhile is reported from its connect (while-down), not as found open.
    guard.run(() => probe.takeBacklog());
    // What connected since the last poll, or closed.
    guard.run(() => this.picture());
    this.lastLossPoll = clock.nowNs();
    this.checkTimer = setInterval(() => {
      clock.resync();
      probe.poll();
      this.lastLossPoll = clock.nowNs();
      if (table.needsCheck()) {
        guard.run(() => {
          const present = this.scanner.scan();
          // After a loss, what the program wrote before this picture is handed over first: a close
          // still waiting in the ring is then one `drained` sees, not one taken for lost.
          const flushed = !table.afterLoss || probe.flush();
          table.check(present, clock.nowNs(), flushed && probe.drained);
        });
      }
    }, 1000);
    this.checkTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.watchGap(false);
    await this.probe?.stop();
  }

  stats(): SourceStats {
    return {
      ...this.counters,
      ...(this.probe?.counters ?? {}),
      ...(this.table?.stats() ?? {}),
      mux_searches: this.mux.searches.made,
      mux_searches_cached: this.mux.searches.cached,
      mux_searches_skipped: this.mux.searches.skipped,
      mux_sessions: this.mux.sessions,
      pid_read_faults: pidReadFaultCount(),
      errors: this.guard?.total ?? 0,
      ...(this.netns ? { other_netns_connects: this.netns.dropped } : {}),
      ...(this.probe?.info
        ? {
            probe_pinned: this.probe.info.pin === "none" ? 0 : 1,
            probe_tp_btf: this.probe.info.attach === "tracefs" ? 0 : 1,
          }
        : {}),
    };
  }

  /** A picture from /proc; the source's first one is what was open before it started. */
  private picture(): void {
    const present = this.scanner.scan();
    this.table?.picture(present, clock.nowNs(), !this.pictured);
    this.pictured = true;
  }

  private watchGap(on: boolean): void {
    if (!on) {
      if (this.gapTimer) clearInterval(this.gapTimer);
      this.gapTimer = undefined;
      return;
    }
    if (this.gapTimer) return;
    this.counters.gaps++;
    const poll = () => {
      this.counters.gap_polls++;
      this.guard?.run(() => this.picture());
    };
    poll();
    this.gapTimer = setInterval(poll, this.opts.intervalMs ?? 50);
  }
}
