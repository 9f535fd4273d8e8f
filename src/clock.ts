/**
 * Wall-clock time in nanoseconds, with the resolution of the monotonic clock. Node's hrtime and the
 * kernel's ktime_get_ns() (bpf_ktime_get_ns in the probe) both read CLOCK_MONOTONIC, so one offset, taken once,
 * turns kernel timestamps into wall-clock time. The offset is refreshed when asked (after a suspend or
 * an NTP step the two clocks drift apart; the eBPF source refreshes it periodically).
 */
class Clock {
  private offsetNs = 0n;

  constructor() {
    this.resync();
  }

  resync(): void {
    this.offsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  }

  nowNs(): bigint {
    return process.hrtime.bigint() + this.offsetNs;
  }

  monotonicToWallNs(monoNs: bigint): bigint {
    return monoNs + this.offsetNs;
  }
}

export const clock = new Clock();

/** ISO 8601 with nanoseconds, as ECS dates allow (`2026-11-25T13:00:00.123456789Z`). */
export function isoNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // ...sss Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${iso.slice(0, 19)}.${frac}Z`;
}
