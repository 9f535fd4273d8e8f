import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

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

/** `report ARGS` with the compiled CLI (dist/cli.js): wall time, peak RSS, lines written. */
export async function timeReport(
  args: string[],
): Promise<{ seconds: number; peakMb: number; lines: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, "dist/cli.js"), "report", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let lines = 0;
  child.stdout.on("data", (d: Buffer) => {
    for (const b of d) if (b === 10) lines++;
  });
  let peakKb = 0;
  const sample = setInterval(() => {
    try {
      const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // exited
    }
  }, 20);
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  clearInterval(sample);
  if (code !== 0) throw new Error(`report exited ${code}`);
  return { seconds: (performance.now() - t0) / 1000, peakMb: peakKb / 1024, lines };
}
