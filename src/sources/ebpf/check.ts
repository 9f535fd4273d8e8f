import { spawnSync } from "node:child_process";
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

const TRACEFS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const TRACEPOINT = "events/sock/inet_sock_set_state";
export const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/** Capabilities the probe needs to load and attach: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. */
export function hasBpfCapabilities(): boolean {
  const has = effectiveCapabilities();
  return has("SYS_ADMIN") || (has("PERFMON") && has("BPF"));
}

/**
 * Where the tracepoint shows in tracefs (libbpf reads the tracepoint's id there to attach), mounting
 * tracefs when it is not and we may (root).
 */
export function ensureTracefs(mount = true): string | undefined {
  const found = TRACEFS.find((d) => existsSync(`${d}/${TRACEPOINT}`));
  if (found) return found;
  if (!mount || process.getuid?.() !== 0) return undefined;
  spawnSync("mount", ["-t", "tracefs", "tracefs", "/sys/kernel/tracing"], {
    stdio: "ignore",
    timeout: 10_000,
  });
  return existsSync(`/sys/kernel/tracing/${TRACEPOINT}`) ? "/sys/kernel/tracing" : undefined;
}

/**
 * Can the eBPF source run here? Checked in the order an operator would fix things. Loading the program
 * itself is left to the source: the kernel's verifier has the last word, and a refusal there makes
 * `auto` run procfs, saying why.
 */
export function checkEbpf(opts: { mount?: boolean } = {}): EbpfCheck {
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
  if (!ensureTracefs(opts.mount ?? true)) {
    const asRoot = process.getuid?.() === 0 && opts.mount === false;
    return {
      ok: false,
      code: "ERR_NO_TRACEFS",
      reason: asRoot
        ? "tracefs is not mounted (run mounts it at start, as root; this check changes nothing on the host)"
        : "tracefs with sock:inet_sock_set_state is not available (mount -t tracefs tracefs /sys/kernel/tracing)",
    };
  }
  return { ok: true, reason: "our BPF program (CO-RE, libbpf) on tracepoint sock:inet_sock_set_state" };
}
