import { readdirSync, readFileSync } from "node:fs";

const CLK_TCK = 100;

function stat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Every descendant of `root`, from /proc (children of each pid via their ppid). */
export function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const f = stat(Number(d));
    if (f) parent.set(Number(d), Number(f[1]));
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

/**
 * CPU seconds used so far by `root` and its descendants: utime + stime of each live process, plus
 * cutime + cstime of each (children it has already reaped, such as each lsof of a shell loop).
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of tree(root)) {
    const f = stat(pid);
    if (!f) continue;
    // fields 14-17 of /proc/PID/stat (1-based) are 11-14 here, after pid and comm
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLK_TCK;
}

/** Peak resident set of one process, MB (VmHWM). */
export function peakRssMb(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
