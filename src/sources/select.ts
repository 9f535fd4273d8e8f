import type { Config } from "../config.ts";
import { LoggerError } from "../errors.ts";
import { EbpfSource } from "./ebpf.ts";
import { checkEbpf } from "./ebpf-check.ts";
import { FallbackSource } from "./fallback.ts";
import { ProcfsSource } from "./procfs.ts";
import type { Diagnostics, Source } from "./types.ts";

/**
 * `auto` takes eBPF when it can run here (the probe addon built, kernel BTF, the tracepoint in tracefs,
 * root or CAP_BPF+CAP_PERFMON) and procfs otherwise; the choice and its reason go into monitor-started.
 * eBPF always runs with procfs as its fallback. An explicit `--source ebpf` that cannot run is an
 * error (exit 2), never a silent downgrade.
 */
export function selectSource(config: Config, diag: Diagnostics): Source {
  const procfs = () => new ProcfsSource({ ...config, diag });
  if (config.source === "procfs") return named(procfs(), "procfs chosen with --source");
  const check = checkEbpf();
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
  const how = config.source === "ebpf" ? "chosen with --source" : "auto";
  const ebpf = named(new EbpfSource({ ...config, diag }), `ebpf (${how}): ${check.reason}`);
  return new FallbackSource(ebpf, procfs, diag);
}

function named<T extends Source>(s: T, reason: string): T {
  s.reason = reason;
  return s;
}
