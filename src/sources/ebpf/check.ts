import { existsSync } from "node:fs";
import { effectiveCapabilities } from "../../capabilities.ts";
import type { SourceErrorCode } from "../errors.ts";
import { probeAddon, probeLoadError } from "./probe.ts";

export type EbpfCheck =
  | { ok: true; reason: string }
  | {
      ok: false;
      /** What is missing, by a stable code: `doctor` chooses its advice by it. */
      code: SourceErrorCode;
      /** Why it cannot run, in words for the monitor-started record and for `doctor`. */
      reason: string;
    };

export const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/** Capabilities the probe needs to load and attach: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. */
export function hasBpfCapabilities(): boolean {
  const has = effectiveCapabilities();
  return has("SYS_ADMIN") || (has("PERFMON") && has("BPF"));
}

/**
 * Can the eBPF source run here? Checked in the order an operator would fix things. Loading the program
 * itself is left to the source: the kernel's verifier has the last word, and a refusal there makes
 * `auto` run procfs, saying why.
 */
export function checkEbpf(): EbpfCheck {
  if (!probeAddon()) {
    return {
      ok: false,
      code: "ERR_PROBE_UNAVAILABLE",
      reason: `the eBPF probe is not available: ${probeLoadError()}`,
    };
  }
  if (!existsSync(VMLINUX_BTF)) {
    return {
      ok: false,
      code: "ERR_NO_BTF",
      reason: `the kernel has no BTF (${VMLINUX_BTF}): CO-RE cannot place the probe's fields`,
    };
  }
  if (!hasBpfCapabilities()) {
    return {
      ok: false,
      code: "ERR_NO_BPF_CAPABILITIES",
      reason: "not root and no CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN)",
    };
  }
  // No tracefs is needed: tp_btf programs attach by the kernel's BTF. The tracefs tracepoints are the
  // loader's fallback for a kernel that refuses those; its error then says why each failed.
  return { ok: true, reason: "our BPF program (CO-RE, libbpf)" };
}
