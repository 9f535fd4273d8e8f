import { readText } from "./proc-io.ts";

/** The capabilities the sources use, by number (linux/capability.h). */
export const CAP = {
  DAC_READ_SEARCH: 2,
  NET_ADMIN: 12,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
  PERFMON: 38,
  BPF: 39,
} as const;

export type CapName = keyof typeof CAP;

/** Our effective capability set, from /proc/self/status (CapEff). */
export function effectiveCapabilities(): (name: CapName) => boolean {
  const m = /^CapEff:\s+([0-9a-f]+)$/m.exec(readText("/proc/self/status") ?? "");
  const eff = m ? BigInt(`0x${m[1]}`) : 0n;
  return (name) => (eff & (1n << BigInt(CAP[name]))) !== 0n;
}
