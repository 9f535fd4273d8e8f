import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { effectiveCapabilities } from "../capabilities.ts";
import type { SourceErrorCode } from "./errors.ts";

export type EbpfCheck =
  | { ok: true; reason: string; version: string }
  | {
      ok: false;
      /** What is missing, by a stable code: `doctor` chooses its advice by it. */
      code: SourceErrorCode;
      /** Why it cannot run, in words for the monitor-started record and for `doctor`. */
      reason: string;
      version?: string;
    };

const TRACEFS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const TRACEPOINT = "events/sock/inet_sock_set_state";

/** Capabilities bpftrace needs to load and attach: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. */
export function hasBpfCapabilities(): boolean {
  const has = effectiveCapabilities();
  return has("SYS_ADMIN") || (has("PERFMON") && has("BPF"));
}

export function bpftraceVersion(bpftrace: string): string | undefined {
  const r = spawnSync(bpftrace, ["--version"], { encoding: "utf8", timeout: 10_000 });
  return /v(\d+\.\d+\.\d+)/.exec(r.stdout ?? "")?.[1];
}

function atLeast(version: string, want: [number, number]): boolean {
  const [maj = 0, min = 0] = version.split(".").map(Number);
  return maj > want[0] || (maj === want[0] && min >= want[1]);
}

/** Where the tracepoint shows in tracefs, mounting tracefs when it is not and we may (root). */
export function ensureTracefs(): string | undefined {
  const found = TRACEFS.find((d) => existsSync(`${d}/${TRACEPOINT}`));
  if (found) return found;
  if (process.getuid?.() !== 0) return undefined;
  spawnSync("mount", ["-t", "tracefs", "tracefs", "/sys/kernel/tracing"], {
    stdio: "ignore",
    timeout: 10_000,
  });
  return existsSync(`/sys/kernel/tracing/${TRACEPOINT}`) ? "/sys/kernel/tracing" : undefined;
}

/** Can the eBPF source run here? Checked in the order an operator would fix things. */
export function checkEbpf(bpftrace: string): EbpfCheck {
  const version = bpftraceVersion(bpftrace);
  if (version === undefined)
    return {
      ok: false,
      code: "ERR_BPFTRACE_NOT_FOUND",
      reason: `${bpftrace} not found or not runnable (apt-get install bpftrace)`,
    };
  if (!atLeast(version, [0, 17]))
    return {
      ok: false,
      code: "ERR_BPFTRACE_TOO_OLD",
      reason: `bpftrace ${version} is older than 0.17`,
      version,
    };
  if (!hasBpfCapabilities()) {
    return {
      ok: false,
      code: "ERR_NO_BPF_CAPABILITIES",
      reason: "not root and no CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN)",
      version,
    };
  }
  if (!ensureTracefs()) {
    return {
      ok: false,
      code: "ERR_NO_TRACEFS",
      reason:
        "tracefs with sock:inet_sock_set_state is not available (mount -t tracefs tracefs /sys/kernel/tracing)",
      version,
    };
  }
  return { ok: true, reason: `bpftrace ${version}, tracepoint sock:inet_sock_set_state`, version };
}
