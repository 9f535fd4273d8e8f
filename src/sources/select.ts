import type { Config } from "../config.ts";
import { LoggerError } from "../errors.ts";
import { EbpfSource } from "./ebpf.ts";
import { checkEbpf } from "./ebpf-check.ts";
import { ProcfsSource } from "./procfs.ts";
import type { Diagnostics, Source } from "./types.ts";

export interface Selected {
  source: Source;
  reason: string;
  /** What to run instead if this source fails to start or gives up while running. */
  fallback?: () => Source;
}

/**
 * `auto` takes eBPF when it can run here (bpftrace >= 0.17, the tracepoint in tracefs, root or
 * CAP_BPF+CAP_PERFMON) and procfs otherwise; the choice and its reason go into monitor-started.
 * An explicit `--source ebpf` that cannot run is an error (exit 2), never a silent downgrade.
 */
export async function selectSource(config: Config, diag: Diagnostics): Promise<Selected> {
  const procfs = () => new ProcfsSource({ ...config, diag });
  if (config.source === "procfs") return { source: procfs(), reason: "procfs chosen with --source" };
  const check = checkEbpf(config.bpftrace);
  if (!check.ok) {
    if (config.source === "ebpf") {
      throw new LoggerError(
        "ERR_SOURCE_UNAVAILABLE",
        `invalid --source "ebpf": the eBPF source cannot run here: ${check.reason}`,
        {
          exitCode: 2,
        },
      );
    }
    return { source: procfs(), reason: `procfs, since eBPF cannot run here: ${check.reason}` };
  }
  const how = config.source === "ebpf" ? "chosen with --source" : "auto";
  return {
    source: new EbpfSource({ ...config, diag }),
    reason: `ebpf (${how}): ${check.reason}`,
    fallback: procfs,
  };
}
