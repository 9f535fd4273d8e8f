import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { clock } from "../clock.ts";
import { type BpfLine, LineSplitter, parseBpftraceLine } from "./bpftrace-lines.ts";
import { bpftraceProgram } from "./bpftrace-program.ts";
import { SourceError } from "./errors.ts";
import type { KernelEvent } from "./kernel-table.ts";
import type { Diagnostics } from "./types.ts";

export interface ProbeHandlers {
  event(ev: KernelEvent): void;
  /** The kernel dropped this many events (bpftrace's "Lost N events"). */
  lost(events: number): void;
  /** The probe stopped unexpectedly; it is being restarted (or given up on: `gaveUp`). */
  down(how: string): void;
  /** Attached again after `down`. */
  up(): void;
  gaveUp(error: SourceError): void;
}

export interface BpftraceProbeOptions {
  ports: readonly number[];
  clients: readonly string[];
  bpftrace: string;
  diag: Diagnostics;
  /** How long bpftrace may take to compile and attach. */
  attachTimeoutMs?: number;
  /** Restarts allowed within `failureWindowMs` before giving up. */
  maxFailures?: number;
  failureWindowMs?: number;
  backoffMs?: number;
}

/**
 * bpftrace on sock:inet_sock_set_state, as a supervised child: its own process group (killed with
 * us, and by the kernel if we die first: setpriv --pdeathsig), restarted with backoff when it exits,
 * given up after repeated failures. Its text lines become KernelEvents; nothing here keeps state about
 * sockets (that is the KernelTable's).
 */
export class BpftraceProbe {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private pendingSyn: Extract<BpfLine, { kind: "syn" }> | undefined;
  readonly counters = { restarts: 0, unparsed: 0, kernel_events: 0, cut_lines: 0 };

  constructor(
    private readonly opts: BpftraceProbeOptions,
    private readonly on: ProbeHandlers,
  ) {}

  /** Pid of the running bpftrace (for tests that kill it), if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    return this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.kill();
  }

  /** Starts bpftrace and resolves once its probes are attached. */
  private launch(): Promise<void> {
    const program = bpftraceProgram(this.opts.ports, this.opts.clients);
    const argv = [this.opts.bpftrace, "-f", "json", "-e", program];
    const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", ...argv], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: bpftraceEnv(process.env),
    });
    this.child = child;
    const out = new LineSplitter();
    const err = new LineSplitter();
    const limit = this.opts.attachTimeoutMs ?? 60_000;
    return new Promise<void>((resolve, reject) => {
      let attached = false;
      const timer = setTimeout(() => {
        if (attached) return;
        reject(new SourceError("ERR_PROBE_ATTACH", `bpftrace did not attach within ${limit} ms`));
        void this.kill();
      }, limit);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (chunk: string) =>
        out.push(chunk, (line) => {
          const parsed = parseBpftraceLine(line);
          if (parsed.kind === "attached" && !attached) {
            attached = true;
            clearTimeout(timer);
            resolve();
          }
          this.onLine(parsed);
        }),
      );
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (chunk: string) =>
        err.push(chunk, (line) => this.opts.diag.info(`bpftrace: ${line}`)),
      );
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(new SourceError("ERR_PROBE_ATTACH", `bpftrace could not be started: ${error.message}`, error));
      });
      child.on("exit", (code, signal) => {
        this.flushSyn();
        if (out.flush() !== "") this.counters.cut_lines++;
        clearTimeout(timer);
        if (this.child === child) this.child = undefined;
        const how = signal ?? `exit code ${code}`;
        if (!attached) {
          reject(new SourceError("ERR_PROBE_ATTACH", `bpftrace exited before attaching (${how})`));
          return;
        }
        if (!this.stopping) {
          this.on.down(how);
          this.onUnexpectedExit(how);
        }
      });
    });
  }

  private onUnexpectedExit(how: string): void {
    const now = Date.now();
    const window = this.opts.failureWindowMs ?? 300_000;
    this.failures = [...this.failures.filter((t) => now - t < window), now];
    const max = this.opts.maxFailures ?? 5;
    if (this.failures.length >= max) {
      const reason = `bpftrace exited ${this.failures.length} times within ${window / 1000} s (last: ${how})`;
      this.stopping = true;
      this.on.gaveUp(new SourceError("ERR_PROBE_EXITED", reason));
      return;
    }
    const delay = (this.opts.backoffMs ?? 1000) * 2 ** (this.failures.length - 1);
    this.opts.diag.warn(
      `bpftrace exited (${how}); restarting in ${delay} ms, attempt ${this.failures.length}; /proc is polled meanwhile`,
    );
    this.restartTimer = setTimeout(() => {
      this.counters.restarts++;
      this.launch().then(
        () => this.on.up(),
        (error: Error) => {
          this.on.down(error.message);
          this.onUnexpectedExit(error.message);
        },
      );
    }, delay);
  }

  private kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => signalGroup(child.pid as number, "SIGKILL"), 3000);
      child.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
      signalGroup(child.pid as number, "SIGTERM");
    });
  }

  private onLine(l: BpfLine): void {
    if (l.kind !== "pcomm") this.flushSyn();
    switch (l.kind) {
      case "syn":
        this.counters.kernel_events++;
        this.pendingSyn = l;
        return;
      case "pcomm":
        if (this.pendingSyn?.sk === l.sk) this.flushSyn(l.comm);
        return;
      case "est":
        this.counters.kernel_events++;
        this.on.event({
          kind: "established",
          sk: l.sk,
          sport: l.sport,
          saddr: l.saddr,
          timeNs: clock.monotonicToWallNs(l.monoNs),
        });
        return;
      case "close": {
        this.counters.kernel_events++;
        const { monoNs, ...rest } = l;
        this.on.event({ ...rest, kind: "close", timeNs: clock.monotonicToWallNs(monoNs) });
        return;
      }
      case "lost":
        this.opts.diag.warn(`the kernel dropped ${l.events} events: bpftrace could not keep up`);
        this.on.lost(l.events);
        return;
      case "attached":
        return;
      case "other":
        this.counters.unparsed++;
        this.opts.diag.info(`bpftrace: ${l.text}`);
        return;
    }
  }

  /** bpftrace prints the parent's name on a line of its own, right after the connect line. */
  private flushSyn(parentComm?: string): void {
    const s = this.pendingSyn;
    if (!s) return;
    this.pendingSyn = undefined;
    const { monoNs, kind: _k, ...rest } = s;
    const ev: KernelEvent = { ...rest, kind: "connect", timeNs: clock.monotonicToWallNs(monoNs) };
    if (parentComm !== undefined) ev.parentComm = parentComm;
    this.on.event(ev);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/**
 * bpftrace's environment. Pointing BPFTRACE_BTF at the kernel's BTF file makes bpftrace read it
 * directly; otherwise bpftrace 0.17 enumerates BTF objects with BPF_BTF_GET_NEXT_ID, which needs
 * CAP_SYS_ADMIN, and without it knows no kernel struct (`Unknown struct/union: 'struct sock'`).
 * So CAP_BPF + CAP_PERFMON suffice (measured; see deploy/ssh-outbound-logger.service).
 */
export function bpftraceEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const btf = env.BPFTRACE_BTF ?? (existsSync(VMLINUX_BTF) ? VMLINUX_BTF : undefined);
  return { ...env, BPFTRACE_MAP_KEYS_MAX: "65536", ...(btf ? { BPFTRACE_BTF: btf } : {}) };
}
