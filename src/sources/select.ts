import type { Config } from "../config.ts";
import { floodPolicy } from "../config.ts";
import { LoggerError } from "../errors.ts";
import { checkEbpf, type EbpfCheck } from "./ebpf/check.ts";
import { EbpfSource } from "./ebpf/source.ts";
import { asSourceError } from "./errors.ts";
import { FallbackSource } from "./fallback.ts";
import { ProcfsSource } from "./procfs/source.ts";
import type { Diagnostics, Source, SourceEvents } from "./types.ts";

/**
 * `auto` takes eBPF when it can run here (the probe addon built, kernel BTF, the tracepoint in tracefs,
 * root or CAP_BPF+CAP_PERFMON) and procfs otherwise; the choice and its reason go into monitor-started.
 * Under `auto`, eBPF runs with procfs as its fallback. An explicit `--source ebpf` never falls back
 * (an operator who asked for the kernel's view must not get a poll an attacker can slip between):
 * one that cannot run, or whose probe cannot attach, is an error (exit 2); one whose probe fails for
 * good later ends the daemon (exit 1), and the service manager starts it again.
 */
export function selectSource(
  config: Config,
  diag: Diagnostics,
  /** Whether eBPF can run here (a parameter so that both answers can be tried on one host). */
  canRunEbpf: () => EbpfCheck = checkEbpf,
): Source {
  const procfs = () => new ProcfsSource({ ...config, diag });
  if (config.source === "procfs") return named(procfs(), "procfs chosen with --source");
  const check = canRunEbpf();
  if (!check.ok) {
    if (config.source === "ebpf") {
      throw new LoggerError(
        check.code,
        `invalid --source "ebpf": the eBPF source cannot run here: ${check.reason}`,
        { exitCode: 2 },
      );
    }
    return named(procfs(), `procfs, since eBPF cannot run here: ${check.reason}`);
  }
  if (config.source === "ebpf") {
    return new Required(
      named(new EbpfSource(ebpfOptions(config, diag)), `ebpf (chosen with --source): ${check.reason}`),
    );
  }
  const ebpf = named(new EbpfSource(ebpfOptions(config, diag)), `ebpf (auto): ${check.reason}`);
  return new FallbackSource(ebpf, procfs, diag);
}

/** The eBPF source counts floods in the kernel with the flood gate's own policy (--user-rate). */
function ebpfOptions(config: Config, diag: Diagnostics) {
  const { rate, burst } = floodPolicy(config.userRate);
  return { ...config, diag, flood: { rate, burst }, pinDir: config.pin };
}

/** A source the operator named: failing to start is a usage error (exit 2), not a reason to fall back. */
export class Required implements Source {
  constructor(private readonly inner: Source) {}
  get name() {
    return this.inner.name;
  }
  get reason() {
    return this.inner.reason;
  }
  set reason(r: string) {
    this.inner.reason = r;
  }
  async start(events: SourceEvents): Promise<void> {
    try {
      await this.inner.start(events);
    } catch (error) {
      const e = asSourceError(error);
      throw new LoggerError(
        e.code,
        `invalid --source "${this.inner.name}": it cannot start here: ${e.message}`,
        {
          exitCode: 2,
          cause: error,
        },
      );
    }
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
  stats() {
    return this.inner.stats();
  }
}

function named<T extends Source>(s: T, reason: string): T {
  s.reason = reason;
  return s;
}
