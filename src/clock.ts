/**
 * Wall-clock time in nanoseconds, with the resolution of the monotonic clock: the runtime's hrtime plus
 * one offset, taken once. Kernel timestamps (bpf_ktime_get_ns in the probe: CLOCK_MONOTONIC, from
 * boot) have an offset of their own, from the kernel's monotonic clock as the probe addon reads it:
 * Node's hrtime is CLOCK_MONOTONIC, but Bun's (the single binary) counts from the process's start, so
 * the two cannot share one. Both offsets are refreshed when asked (after a suspend or an NTP step the
 * clocks drift apart; the eBPF source refreshes them periodically).
 */
class Clock {
  private offsetNs = 0n;
  private kernelOffsetNs = 0n;
  private kernelMonotonic: (() => bigint) | undefined;

  constructor() {
    this.resync();
  }

  /** Kernel timestamps are CLOCK_MONOTONIC as `now` reads it (the probe addon's monotonicNs). */
  useKernelMonotonic(now: () => bigint): void {
    this.kernelMonotonic = now;
    this.resync();
  }

  resync(): void {
    const wall = BigInt(Date.now()) * 1_000_000n;
    this.offsetNs = wall - process.hrtime.bigint();
    this.kernelOffsetNs = this.kernelMonotonic ? wall - this.kernelMonotonic() : this.offsetNs;
  }

  nowNs(): bigint {
    return process.hrtime.bigint() + this.offsetNs;
  }

  /** A kernel CLOCK_MONOTONIC time as wall-clock time. */
  kernelToWallNs(monoNs: bigint): bigint {
    return monoNs + this.kernelOffsetNs;
  }
}

export const clock = new Clock();

/** ISO 8601 with nanoseconds, as ECS dates allow (`2026-11-25T13:00:00.123456789Z`). */
export function isoNs(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  // A record holds a dozen times: its own, within a second or two, and the start of its process and
  // of each ancestor, the same from one record to the next. Each second's date and time are made once.
  let prefix = prefixes.get(s);
  if (prefix === undefined) {
    if (prefixes.size >= PREFIXES_MAX) prefixes.clear();
    prefix = new Date(Number(s) * 1000).toISOString().slice(0, 19);
    prefixes.set(s, prefix);
  }
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${prefix}.${frac}Z`;
}

const PREFIXES_MAX = 256;
const prefixes = new Map<bigint, string>();
