// One concept in one file (about 340 lines): the loaded probe's life in JavaScript: open, records,
// losses and flood counts read back, failure and reopening with backoff, and a stop that loses nothing.
import { createRequire } from "node:module";
import { clock } from "../../clock.ts";
import { readStat } from "../../proc-io.ts";
import { SourceError } from "../errors.ts";
import { nativeAddon } from "../native.ts";
import type { CountedDestination, Diagnostics, LossStage, ProtocolMode } from "../types.ts";
import { cgroup2Root } from "./cgroup-root.ts";
import type { KernelEvent } from "./kernel-table.ts";
import {
  ATTEMPTS_SIZE,
  CLIENT_RECORD_SIZE,
  type ClientEvent,
  EXEC_SIZE,
  parseAttempts,
  parseExecChain,
  parseProbeRecords,
  RECORD_SIZE,
  RECORD_VERSION,
  USER_ATTEMPTS_SIZE,
} from "./probe-records.ts";

/** One user's connects counted by the program since the last reading (see native/probe.h). */
export interface CountedAttempts {
  uid: number;
  count: number;
  /** Of `count`, those not in `destinations` (the program's map for them was full). */
  unlisted: number;
  lastNs: bigint;
  destinations: CountedDestination[];
}

/** What the probe tells its owner. */
export interface ProbeHandlers {
  event(ev: KernelEvent): void;
  /** An SSH client connected to a unix socket, or exited (sessions over a control master). */
  client(ev: ClientEvent): void;
  /**
   * Records lost since the last poll: the program could not reserve them (its ring buffer was full),
   * or they could not be handed over from the reader thread.
   */
  lost(records: number, stage: LossStage, sinceNs?: bigint): void;
  /**
   * Runs of the probe's programs the kernel skipped since the last poll: connects, establishments or
   * closes that made no record. Which sockets they concern is not known: all are checked.
   */
  skipped(runs: number): void;
  /** Connects the program counted instead of sending, since the last time: one entry per user. */
  counted(users: CountedAttempts[]): void;
  /** The probe stopped delivering (a ring buffer error); it is being opened again (or given up on). */
  down(how: string): void;
  /** Delivering again after `down`. */
  up(): void;
  gaveUp(error: SourceError): void;
}

export interface BpfProbeOptions {
  ports: readonly number[];
  clients: readonly string[];
  diag: Diagnostics;
  /**
   * Each user's rate (and burst) of connects beyond which those that fail before they are established
   * are counted in the kernel, not sent one by one (the flood gate's policy); rate 0, or absent: off.
   */
  flood?: { rate: number; burst: number };
  /**
   * The bpffs directory where the probe stays pinned after us (the kernel captures while no daemon
   * runs; the next one takes it over and reads what came meanwhile first); absent: not pinned.
   */
  pinDir?: string | undefined;
  /**
   * SSH recognised by its first bytes too (any port, any program): `on` through TCP's tracepoints (the
   * socket hooks; where the kernel refuses them, the packet hooks), `packets` through cgroup_skb on the
   * cgroup v2 root (cgroup-root.ts). Default off here; the configuration's default is on.
   */
  protocol?: ProtocolMode;
  /** Reopens allowed within `failureWindowMs` before giving up. */
  maxFailures?: number;
  failureWindowMs?: number;
  backoffMs?: number;
}

type Handle = object & { readonly __probe: unique symbol };

/** How a probe runs (addon's info()). */
export interface ProbeInfo {
  /** tp_btf: BTF-typed tracepoints, no tracefs needed; tracefs: the tracefs tracepoints. */
  attach: "tp_btf" | "tracefs" | "unknown";
  /** none: not pinned; fresh: pinned now; reused: taken over from the last daemon; replaced: pinned in place of another version's. */
  pin: "none" | "fresh" | "reused" | "replaced";
  /** A probe taken over: when the last daemon stopped reading it (CLOCK_MONOTONIC; 0n unknown). */
  downSinceMonoNs: bigint;
  /** Of a replaced probe's ring: bytes of records of another layout, not read. */
  unreadableBytes: number;
  /** Why the pin directory was given and not used (the probe then goes with the daemon). */
  pinError?: string;
  /**
   * SSH is recognised by its protocol too, through TCP's tracepoints (socket) or cgroup_skb (packets);
   * off: not (not wanted, or see protocolError).
   */
  protocol: "socket" | "packets" | "off";
  /** Why the socket hooks gave way to the packet hooks (the kernel refused them). */
  protocolNote?: string;
}

/** What the addon's open() takes for --protocol: the hooks, and the cgroup v2 root the packet hooks need. */
export type ProtocolArg = { hooks: "socket" | "packets"; cgroup: string | null } | null;

/** open()'s protocol argument for MODE: null when off (the cgroup v2 root found in mountinfo). */
export function protocolArg(mode: ProtocolMode): ProtocolArg {
  if (mode === "off") return null;
  return { hooks: mode === "packets" ? "packets" : "socket", cgroup: cgroup2Root() ?? null };
}

/** What is pinned in a directory (addon's pinned()). */
export interface PinnedProbe {
  /** Pinned by this version (same BPF object): the next daemon takes it over. */
  ours: boolean;
  pinnedAtNs: bigint;
  readMonoNs: bigint;
  /** 0n while a daemon reads it, or when the last one ended without stopping (killed). */
  stoppedMonoNs: bigint;
  /** The daemon reading it now (alive: same pid and start time as it noted), else 0. */
  readerPid: number;
  attach: string;
  recordVersion: number;
  /** Bytes waiting in its ring buffer (each record 144 or 256 of them), -1 when unreadable. */
  waitingBytes: number;
  /** The programs whose links are pinned, comma-separated. */
  links: string;
}

interface Addon {
  open(
    ports: number[],
    clients: string[],
    userRate: number,
    userBurst: number,
    pinDir: string | null,
    protocol: ProtocolArg,
    onRecords: (records: Buffer | Error) => void,
  ): Handle;
  info(h: Handle): ProbeInfo;
  execChain(h: Handle, pid: number): Buffer;
  backlog(h: Handle): Buffer;
  pinned(dir: string): PinnedProbe | null;
  unload(dir: string): { removed: number; waitingBytes: number };
  attempts(h: Handle): { users: Buffer; destinations: Buffer };
  lost(h: Handle): number;
  dropped(h: Handle): number;
  /** Runs of the probe's programs the kernel skipped since they were loaded (recursion_misses). */
  skipped(h: Handle): number;
  sessionError(h: Handle): string | null;
  protocolError(h: Handle): string | null;
  stop(h: Handle): void;
  pending(h: Handle): number;
  /** What the ring holds now is handed over (counted by pending); false when the thread did not answer. */
  flush(h: Handle): boolean;
  drain(h: Handle): Buffer;
  close(h: Handle): void;
  monotonicNs(): bigint;
  recordVersion: number;
  recordSize: number;
  clientRecordSize: number;
  execSize: number;
  userAttemptsSize: number;
  attemptsSize: number;
}

/**
 * The loader addon (native/probe.c, linked with libbpf, the BPF object inside it), or null when it was
 * not built (no clang or libbpf-dev at `npm ci`) or cannot load (no libbpf1).
 */
const native = nativeAddon<Addon>(
  () =>
    typeof require === "function"
      ? require("../../../build/Release/probe.node")
      : createRequire(import.meta.url)("../../../build/Release/probe.node"),
  (a) => {
    if (
      a.recordVersion !== RECORD_VERSION ||
      a.recordSize !== RECORD_SIZE ||
      a.clientRecordSize !== CLIENT_RECORD_SIZE ||
      a.execSize !== EXEC_SIZE ||
      a.userAttemptsSize !== USER_ATTEMPTS_SIZE ||
      a.attemptsSize !== ATTEMPTS_SIZE
    ) {
      throw new Error(
        `the probe addon's records (version ${a.recordVersion}, ${a.recordSize} bytes) are not this version's; rebuild it (npm ci)`,
      );
    }
  },
);

export function probeAddon(): Addon | null {
  return native.get();
}

export function probeLoadError(): string {
  return native.error();
}

/** What is pinned under `dir` (null: nothing, or the addon is not built). */
export function pinnedProbe(dir: string): PinnedProbe | null {
  return probeAddon()?.pinned(dir) ?? null;
}

/** Takes away the probe pinned under `dir`: how many pins were removed, and the bytes its ring held. */
export function unloadProbe(dir: string): { removed: number; waitingBytes: number } {
  const a = probeAddon();
  if (!a)
    throw new SourceError(
      "ERR_PROBE_UNAVAILABLE",
      `the eBPF probe addon is not available: ${native.error()}`,
    );
  return a.unload(dir);
}

/** Whether a process still runs (not gone, not a zombie: enrichment reads nothing more of one). */
function alive(pid: number): boolean {
  const state = readStat(pid)?.state;
  return state !== undefined && state !== "Z" && state !== "X";
}

/** An error of the addon's open() as a SourceError: the errno's name first, the cause kept. */
export function attachError(error: unknown): SourceError {
  const code = (error as NodeJS.ErrnoException).code;
  return new SourceError("ERR_PROBE_ATTACH", `${code ? `${code}: ` : ""}${(error as Error).message}`, error);
}

/**
 * Our BPF program on sock:inet_sock_set_state, loaded into this process through libbpf. Records come
 * in batches from the addon's ring-buffer thread; the program's own count of records it could not
 * reserve is read when the source asks (once a second, with its other checks: one timer, not two). Attaching takes tens of milliseconds (no compiler at run time).
 */
export class BpfProbe {
  private handle: Handle | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private droppedSoFar = 0;
  private skippedSoFar = 0;
  /** How the probe runs, once open. */
  info: ProbeInfo | undefined;
  /** Records of the ring from before this open (a probe taken over), until the source takes them. */
  private backlog: { records: Buffer; beforeNs: bigint } | undefined;
  /** For the first loss reading after a take-over: the loss happened after this (wall ns). */
  private lossSinceNs: bigint | undefined;
  private failures: number[] = [];
  private stopping = false;
  readonly counters = {
    kernel_events: 0,
    unknown_records: 0,
    reopens: 0,
    attach_ms: 0,
    while_down: 0,
    /** Runs of the programs the kernel skipped while we read the probe: state changes never reported. */
    kernel_skipped: 0,
  };

  constructor(
    private readonly opts: BpfProbeOptions,
    private readonly on: ProbeHandlers,
  ) {}

  /** Loads and attaches; throws a SourceError with the step that failed and the errno's name. */
  async start(): Promise<void> {
    this.open();
  }

  /**
   * Reads the program's count of records it could not reserve, and what it counted of floods (the
   * source calls it once a second).
   */
  poll(): void {
    this.readLost();
    this.readAttempts();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.close();
  }

  /**
   * Nothing of the probe's is waiting to be handed to us. Records may still be in the kernel's ring:
   * those that do not wake the reader wait there up to 100 ms (probe-ring.c); `flush` first hands
   * them over.
   */
  get drained(): boolean {
    const a = probeAddon();
    return !this.handle || !a || a.pending(this.handle) === 0;
  }

  /**
   * Has the reader thread hand over what the kernel's ring holds now, waiting for it (50 ms at most,
   * tens of microseconds when it is idle). After this, `drained` says whether anything the program wrote
   * before this call is still to come. False when the thread did not answer (it is waiting for us to
   * take a backlog): then something may still be to come.
   */
  flush(): boolean {
    const a = probeAddon();
    return !this.handle || !a || a.flush(this.handle);
  }

  private open(): void {
    const a = probeAddon();
    if (!a)
      throw new SourceError(
        "ERR_PROBE_UNAVAILABLE",
        `the eBPF probe addon is not available: ${native.error()}`,
      );
    clock.useKernelMonotonic(() => a.monotonicNs());
    const t0 = process.hrtime.bigint();
    const openedMono = a.monotonicNs();
    const mode = this.opts.protocol ?? "off";
    try {
      const flood = this.opts.flood ?? { rate: 0, burst: 1 };
      this.handle = a.open(
        [...this.opts.ports],
        [...this.opts.clients],
        flood.rate,
        Math.max(1, flood.burst),
        this.opts.pinDir ?? null,
        protocolArg(mode),
        (records) => this.onRecords(records),
      );
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new SourceError(
        "ERR_PROBE_ATTACH",
        `${code ? `${code}: ` : ""}${(error as Error).message}`,
        error,
      );
    }
    this.counters.attach_ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const why = a.sessionError(this.handle);
    if (why !== null) {
      this.opts.diag.once(
        "probe-sessions",
        `the eBPF probe cannot follow sessions over a control master here (${why}: syscall tracepoints); connections are logged as usual`,
      );
    }
    const noProtocol = mode === "off" ? null : a.protocolError(this.handle);
    if (noProtocol !== null) {
      this.opts.diag.once(
        "probe-protocol",
        `the eBPF probe cannot recognise SSH by its protocol here (${noProtocol}); port and client name still choose`,
      );
    }
    // The reader thread is new; the program's counts are read as deltas (the addon keeps what was
    // reported in the probe's own notes, across daemons).
    this.droppedSoFar = 0;
    // Skipped before now (by a probe taken over) were the last daemon's to tell, or no one's.
    this.skippedSoFar = a.skipped(this.handle);
    this.info = a.info(this.handle);
    if (this.info.protocolNote !== undefined) {
      this.opts.diag.once(
        "probe-protocol-hooks",
        `SSH is recognised by its protocol through cgroup_skb packet hooks, which cost more: ${this.info.protocolNote}`,
      );
    }
    const backlog = a.backlog(this.handle);
    if (backlog.length > 0) {
      this.backlog = { records: backlog, beforeNs: clock.kernelToWallNs(openedMono) };
    }
    if (this.info.downSinceMonoNs > 0n) this.lossSinceNs = clock.kernelToWallNs(this.info.downSinceMonoNs);
    if (this.info.pinError !== undefined) {
      this.opts.diag.warn(
        `the eBPF probe is not pinned in ${this.opts.pinDir} (${this.info.pinError}): connections made while the daemon is down will not be seen`,
      );
    }
    if (this.info.unreadableBytes > 0) {
      this.opts.diag.warn(
        `the pinned probe replaced here held ${this.info.unreadableBytes} bytes of records of another version, which this one cannot read`,
      );
    }
  }

  /**
   * The records that came while no daemon read the probe (taken over from the last one): delivered
   * once, before anything else, with `whileDown` on those from before this daemon opened it.
   */
  takeBacklog(): void {
    const b = this.backlog;
    this.backlog = undefined;
    if (b) this.onRecords(b.records, b.beforeNs);
  }

  /**
   * Detaches without losing a record: the ring buffer thread stops, the batches it handed over are
   * delivered, what is still in the ring buffer is read and delivered, the lost count is read; then
   * the probe is freed.
   */
  private async close(): Promise<void> {
    const h = this.handle;
    const a = probeAddon();
    if (!h || !a) return;
    a.stop(h);
    while (a.pending(h) > 0) await new Promise((r) => setImmediate(r));
    this.onRecords(a.drain(h));
    this.readLost();
    this.readAttempts();
    this.handle = undefined;
    a.close(h);
  }

  private onRecords(records: Buffer | Error, whileDownBeforeNs?: bigint): void {
    if (records instanceof Error) {
      this.failed(`the ring buffer failed (${(records as NodeJS.ErrnoException).code}: ${records.message})`);
      return;
    }
    const events = parseProbeRecords(
      records,
      (mono) => clock.kernelToWallNs(mono),
      () => this.counters.unknown_records++,
    );
    this.counters.kernel_events += events.length;
    for (const ev of events) {
      const whileDown = whileDownBeforeNs !== undefined && ev.timeNs < whileDownBeforeNs;
      if (ev.kind === "connect") {
        // Its process gone already (long gone for a connect made while no daemon read the probe, or a
        // client that exited at once): what the kernel kept of its exec and its ancestors', read now
        // while the kernel still has it. A bounded read (16 entries at most), made only then: a live
        // process is read from /proc, and an open connection does not carry a chain it never needs.
        if (whileDown || !alive(ev.pid)) {
          const kept = this.execChain(ev.pid);
          if (kept.length > 0) ev.kept = kept;
        }
        if (whileDown) ev.whileDown = true;
      }
      if (whileDown) this.counters.while_down++;
      if (ev.kind === "unix-connect" || ev.kind === "exit") this.on.client(ev);
      else this.on.event(ev);
    }
  }

  /** What the program kept of `pid`'s exec and its ancestors' (the process first); none when closed. */
  private execChain(pid: number) {
    const h = this.handle;
    const a = probeAddon();
    return h && a ? parseExecChain(a.execChain(h, pid)) : [];
  }

  /**
   * What the program counted of floods since the last reading, per user: how many, how many of them
   * are not in `destinations` (that map was full), the destinations (taken out of the program's map)
   * and when the last of them ended.
   */
  private readAttempts(): void {
    const h = this.handle;
    const a = probeAddon();
    if (!h || !a) return;
    // Each user's counts since they were last read (by us, or by the daemon before a take-over).
    const rows = parseAttempts(a.attempts(h), (mono) => clock.kernelToWallNs(mono));
    const out = new Map<number, CountedAttempts>();
    for (const u of rows.users) {
      if (u.count === 0) continue;
      out.set(u.uid, {
        uid: u.uid,
        count: u.count,
        unlisted: u.unlisted,
        lastNs: u.lastNs,
        destinations: [],
      });
    }
    // The destinations are taken before the totals are read, and the program counts a destination
    // before its user: each destination's user is here (with a count of 0 only if the two raced).
    for (const { uid, ...d } of rows.destinations) {
      let u = out.get(uid);
      if (!u) {
        u = { uid, count: 0, unlisted: 0, lastNs: d.lastNs, destinations: [] };
        out.set(uid, u);
      }
      u.destinations.push(d);
    }
    if (out.size > 0) this.on.counted([...out.values()]);
  }

  private readLost(): void {
    const h = this.handle;
    const a = probeAddon();
    if (!h || !a) return;
    // Since the last reading (ours, or the last daemon's before a take-over: then the loss was while
    // no daemon read the probe).
    const n = a.lost(h);
    const since = this.lossSinceNs;
    this.lossSinceNs = undefined;
    if (n > 0) {
      this.opts.diag.warn(
        `the eBPF probe's ring buffer was full: ${n} records lost${since === undefined ? "" : " while no daemon read it"}`,
      );
      this.on.lost(n, "ring-buffer", since);
    }
    const dropped = a.dropped(h);
    if (dropped > this.droppedSoFar) {
      const n = dropped - this.droppedSoFar;
      this.droppedSoFar = dropped;
      this.opts.diag.warn(`the eBPF probe's reader could not hand over ${n} records (${dropped} in all)`);
      this.on.lost(n, "hand-over");
    }
    const skipped = a.skipped(h);
    if (skipped > this.skippedSoFar) {
      const n = skipped - this.skippedSoFar;
      this.skippedSoFar = skipped;
      this.counters.kernel_skipped += n;
      this.opts.diag.warn(
        `the kernel skipped ${n} runs of the eBPF probe's programs (a program is not run again on a CPU where it runs): the sockets are checked against /proc`,
      );
      this.on.skipped(n);
    }
  }

  /** The probe stopped delivering: closed, reopened after a backoff, given up after repeated failures. */
  private failed(how: string): void {
    if (this.stopping) return;
    void this.close().then(() => this.reopenLater(how));
  }

  private reopenLater(how: string): void {
    if (this.stopping) return;
    this.on.down(how);
    const now = Date.now();
    const window = this.opts.failureWindowMs ?? 300_000;
    this.failures = [...this.failures.filter((t) => now - t < window), now];
    if (this.failures.length >= (this.opts.maxFailures ?? 5)) {
      this.stopping = true;
      this.on.gaveUp(
        new SourceError(
          "ERR_PROBE_EXITED",
          `the eBPF probe failed ${this.failures.length} times within ${window / 1000} s (last: ${how})`,
        ),
      );
      return;
    }
    const delay = (this.opts.backoffMs ?? 1000) * 2 ** (this.failures.length - 1);
    this.opts.diag.warn(`${how}; reopening the probe in ${delay} ms; /proc is polled meanwhile`);
    this.restartTimer = setTimeout(() => {
      try {
        this.open();
        this.counters.reopens++;
        this.on.up();
      } catch (error) {
        this.failed((error as Error).message);
      }
    }, delay);
  }
}
