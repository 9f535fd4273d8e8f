import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { clock } from "../clock.ts";
import { type BpfLine, LineSplitter, parseBpftraceLine } from "./bpftrace-lines.ts";
import { bpftraceProgram } from "./bpftrace-program.ts";
import { ProcfsScanner } from "./procfs.ts";
import type { Diagnostics, Observation, SocketFacts, Source, SourceStats } from "./types.ts";

export interface EbpfOptions {
  ports: readonly number[];
  clients: readonly string[];
  bpftrace: string;
  diag: Diagnostics;
  /** How long bpftrace may take to compile and attach. */
  attachTimeoutMs?: number;
  /** Restarts allowed within `failureWindowMs` before giving up (then `onGiveUp`). */
  maxFailures?: number;
  failureWindowMs?: number;
  backoffMs?: number;
}

interface Live {
  inode?: number;
  sk?: string;
  /** For sockets taken in from /proc: their 4-tuple key, under which the kernel's close finds them. */
  tuple?: string;
  /** A close for it will come from the kernel (tracked by this bpftrace, or on an SSH port). */
  closeSeen: boolean;
}

const tupleKey = (netns: number | undefined, sip: string, sport: number, dip: string, dport: number) =>
  `${netns ?? 0}|${sip}|${sport}|${dip}|${dport}`;

/**
 * The event-driven source: bpftrace on sock:inet_sock_set_state, supervised. bpftrace runs as our
 * child in its own process group (killed with us, and by the kernel if we die first: setpriv
 * --pdeathsig); if it exits it is restarted with backoff, and after repeated failures `onGiveUp` hands
 * over to procfs. Sockets already open at start (and across a restart) come once from /proc; those whose
 * close the kernel filter would not report are checked against /proc every second until they go.
 */
export class EbpfSource implements Source {
  readonly name = "ebpf" as const;
  onGiveUp: ((reason: string) => void) | undefined;
  private child: ChildProcess | undefined;
  private emit: (obs: Observation) => void = () => undefined;
  private readonly scanner: ProcfsScanner;
  private readonly live = new Map<string, Live>();
  private readonly byTuple = new Map<string, string>();
  /** Kernel socket address → key, for the events that carry no inode (the socket may be orphaned by then). */
  private readonly bySk = new Map<string, string>();
  private pendingSyn: Extract<BpfLine, { kind: "syn" }> | undefined;
  private stopping = false;
  private failures: number[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly counters = { lost: 0, restarts: 0, unparsed: 0, kernel_events: 0, cut_lines: 0 };

  constructor(private readonly opts: EbpfOptions) {
    this.scanner = new ProcfsScanner({ ports: opts.ports, clients: opts.clients, diag: opts.diag });
  }

  async start(emit: (obs: Observation) => void): Promise<void> {
    this.emit = emit;
    await this.launch();
    this.pollTimer = setInterval(() => {
      clock.resync();
      this.pollUnwatched();
    }, 1000);
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.kill();
  }

  stats(): SourceStats {
    return { ...this.counters, tracked: this.live.size };
  }

  /** Starts bpftrace and resolves once its probes are attached, then takes in what was already open. */
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
    return new Promise<void>((resolve, reject) => {
      let attached = false;
      const timer = setTimeout(() => {
        if (!attached) {
          reject(new Error(`bpftrace did not attach within ${this.opts.attachTimeoutMs ?? 60_000} ms`));
          void this.kill();
        }
      }, this.opts.attachTimeoutMs ?? 60_000);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (chunk: string) =>
        out.push(chunk, (line) => {
          const parsed = parseBpftraceLine(line);
          if (parsed.kind === "attached" && !attached) {
            attached = true;
            clearTimeout(timer);
            this.takeInExisting();
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
        reject(error);
      });
      child.on("exit", (code, signal) => {
        this.flushSyn();
        if (out.flush() !== "") this.counters.cut_lines++;
        clearTimeout(timer);
        if (this.child === child) this.child = undefined;
        if (!attached) {
          reject(new Error(`bpftrace exited before attaching (${signal ?? `exit code ${code}`})`));
          return;
        }
        if (!this.stopping) this.onUnexpectedExit(signal ?? `exit code ${code}`);
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
      this.opts.diag.warn(`${reason}; giving up on the eBPF source`);
      this.stopping = true;
      this.onGiveUp?.(reason);
      return;
    }
    const delay = (this.opts.backoffMs ?? 1000) * 2 ** (this.failures.length - 1);
    this.opts.diag.warn(
      `bpftrace exited (${how}); restarting in ${delay} ms, attempt ${this.failures.length}`,
    );
    this.restartTimer = setTimeout(() => {
      this.counters.restarts++;
      // Sockets this instance's kernel map was tracking lose their close filter: watch them from /proc.
      for (const l of this.live.values()) l.closeSeen = false;
      this.launch().catch((error: Error) => this.onUnexpectedExit(error.message));
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
      case "est": {
        this.counters.kernel_events++;
        const key = this.bySk.get(l.sk);
        if (key === undefined) return;
        this.emit({
          type: "established",
          timeNs: clock.monotonicToWallNs(l.monoNs),
          key,
          local: { ip: l.saddr, port: l.sport },
        });
        return;
      }
      case "close": {
        this.counters.kernel_events++;
        const fromSyn = this.bySk.get(l.sk);
        const key = fromSyn ?? this.byTuple.get(tupleKey(l.netns, l.saddr, l.sport, l.daddr, l.dport));
        if (key === undefined) return; // a socket on an SSH port that we never reported (inbound, or before us)
        this.forget(key);
        const obs: Observation = {
          type: "close",
          timeNs: clock.monotonicToWallNs(l.monoNs),
          key,
          oldState: l.oldState,
        };
        if (fromSyn !== undefined) {
          // Counters cover the whole life only for sockets seen from their connect().
          obs.bytesSent = l.bytesAcked;
          obs.bytesReceived = l.bytesReceived;
        }
        this.emit(obs);
        return;
      }
      case "lost":
        this.counters.lost += l.events;
        this.opts.diag.warn(
          `the kernel dropped ${l.events} events (${this.counters.lost} in all): bpftrace could not keep up`,
        );
        return;
      case "attached":
        return;
      case "other":
        this.counters.unparsed++;
        this.opts.diag.info(`bpftrace: ${l.text}`);
        return;
    }
  }

  private flushSyn(parentComm?: string): void {
    const s = this.pendingSyn;
    if (!s) return;
    this.pendingSyn = undefined;
    // Keyed like procfs keys sockets (by inode), so a fallback to procfs keeps the connection's id.
    const key = s.inode ? `ino:${s.inode}` : `sk:${s.sk}`;
    this.live.set(key, { inode: s.inode, closeSeen: true, sk: s.sk });
    this.bySk.set(s.sk, key);
    const socket: SocketFacts = {
      key,
      inode: s.inode,
      netns: s.netns,
      family: s.family,
      remote: { ip: s.daddr, port: s.dport },
      state: "SYN_SENT",
      uid: s.uid,
      owner: { pid: s.pid, tid: s.tid, comm: s.comm, uid: s.uid, ppid: s.ppid },
    };
    if (parentComm !== undefined && socket.owner) socket.owner.parentComm = parentComm;
    this.emit({ type: "connect", timeNs: clock.monotonicToWallNs(s.monoNs), socket });
  }

  /** Sockets open before the probes attached, taken once from /proc; those the kernel already told us of are skipped. */
  private takeInExisting(): void {
    const seen = new Set([...this.live.values()].map((l) => l.inode));
    const present = this.scanner.scan();
    const presentInodes = new Set(present.map((s) => s.inode));
    // After a restart: sockets we were tracking that closed while bpftrace was down.
    for (const [key, l] of this.live) {
      if (l.inode !== undefined && !presentInodes.has(l.inode)) this.closeUnseen(key);
    }
    const fresh = present.filter((s) => !seen.has(s.inode));
    for (const s of fresh) {
      this.live.set(s.key, { inode: s.inode, closeSeen: this.opts.ports.includes(s.remote.port) });
      if (s.local)
        this.byTuple.set(tupleKey(s.netns, s.local.ip, s.local.port, s.remote.ip, s.remote.port), s.key);
    }
    if (fresh.length) this.emit({ type: "existing", timeNs: clock.nowNs(), sockets: fresh });
  }

  /** Checks, once a second, the sockets whose close the kernel filter would not report. */
  private pollUnwatched(): void {
    if (![...this.live.values()].some((l) => !l.closeSeen)) return;
    const present = new Set(this.scanner.scan().map((s) => s.inode));
    for (const [key, l] of this.live) if (!l.closeSeen && !present.has(l.inode)) this.closeUnseen(key);
  }

  private closeUnseen(key: string): void {
    this.forget(key);
    this.emit({ type: "close", timeNs: clock.nowNs(), key, oldState: "UNKNOWN" });
  }

  private forget(key: string): void {
    const l = this.live.get(key);
    if (l?.sk !== undefined) this.bySk.delete(l.sk);
    if (l?.tuple !== undefined) this.byTuple.delete(l.tuple);
    this.live.delete(key);
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
