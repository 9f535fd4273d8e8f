/**
 * The benchmark's "hostile" table (issue 19): each attack of an unprivileged local user (the scripts in
 * test/helpers/attacks.ts, run as nobody) against a fresh daemon with its default options, and the
 * honest case beside them. Per row: the attacker's CPU and the daemon's over the attack, their ratio,
 * the daemon's peak RSS, and how long after its end a normal ssh session made during the attack was
 * in the trail.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { StringDecoder } from "node:string_decoder";
import { ARGV_ATTACK, REFUSED_ATTACK, SOCKETS_ATTACK, UNIX_ATTACK } from "../test/helpers/attacks.ts";
import { asNobody, cpuSeconds } from "../test/helpers/hostile.ts";
import { runClient } from "../test/helpers/ssh.ts";
import { freePort, type TestSshd } from "../test/helpers/sshd.ts";
import { peakRssMb } from "./measure.ts";

export interface HostileRow {
  attack: string;
  source: "procfs" | "ebpf";
  attackerCpuS: number;
  daemonCpuS: number;
  seconds: number;
  peakRssMb: number | undefined;
  /** From the normal session's exit to its connection-closed line (ms). */
  normalDelayMs: number | undefined;
  /** The figure the issue sets a target for, in words. */
  figure: string;
  target: string;
  met: boolean;
}

interface Daemon {
  child: ChildProcess;
  lines: { t: number; text: string }[];
  stop(): Promise<void>;
}

/**
 * A daemon with its trail in a file, as deployed (`--output`), read back here every 10 ms. Not its
 * standard output into a pipe: when the reader at the other end falls behind, a synchronous write to
 * the pipe blocks the daemon, which then enriches each connection late (its process gone: less work,
 * a partial record) and its CPU figure says less than a deployed daemon spends. Measured with a
 * throwaway harness like the honest row: 0.63–0.83 ms per session through a pipe, 710 of 1,000 records
 * partial; 1.6–1.8 ms into a file, every record complete.
 */
function startDaemon(cli: string, source: string, ports: string): Daemon {
  const dir = mkdtempSync(join(tmpdir(), "sol-bench-hostile-"));
  const trail = join(dir, "trail.log");
  const child = spawn(
    process.execPath,
    [
      cli,
      "run",
      "--source",
      source,
      "--format",
      "json",
      "--ports",
      ports,
      "--stats-interval",
      "0",
      "--pin",
      "none",
      "--output",
      trail,
    ],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  const lines: { t: number; text: string }[] = [];
  const decoder = new StringDecoder("utf8");
  const chunk = Buffer.allocUnsafe(1 << 20);
  let fd: number | undefined;
  let at = 0;
  let partial = "";
  const readNew = () => {
    if (fd === undefined) {
      if (!existsSync(trail)) return;
      fd = openSync(trail, "r");
    }
    const t = performance.now();
    for (
      let n = readSync(fd, chunk, 0, chunk.length, at);
      n > 0;
      n = readSync(fd, chunk, 0, chunk.length, at)
    ) {
      at += n;
      partial += decoder.write(chunk.subarray(0, n));
    }
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
      lines.push({ t, text: partial.slice(0, nl) });
      partial = partial.slice(nl + 1);
    }
  };
  const reader = setInterval(readNew, 10);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    lines,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      clearInterval(reader);
      readNew();
      if (fd !== undefined) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(what: string, check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A normal session (by root) during an attack: ms from its exit to its close record. */
async function normalDelay(d: Daemon, sshd: TestSshd): Promise<number | undefined> {
  const run = await runClient([...sshd.sshArgs, "true"]);
  const exited = performance.now();
  const mine = `"pid":${run.pid},`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const l = d.lines.find((x) => x.text.includes('"connection-closed"') && x.text.includes(mine));
    if (l) return Math.max(0, l.t - exited);
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}

interface Plan {
  attack: string;
  source: "procfs" | "ebpf";
  ports: (sshd: number, closed: number) => string;
  /** Runs the attack (and the normal session meanwhile); resolves with the attacker's CPU. */
  run(d: Daemon, sshd: TestSshd, closed: number): Promise<{ attackerCpuS: number; normal?: number }>;
  judge(r: { daemonCpuS: number; attackerCpuS: number; seconds: number; d: Daemon }): {
    figure: string;
    target: string;
    met: boolean;
  };
}

const ratio = (r: { daemonCpuS: number; attackerCpuS: number }) =>
  r.daemonCpuS / Math.max(r.attackerCpuS, 0.01);
const byRatio = (r: { daemonCpuS: number; attackerCpuS: number }) => ({
  figure: `${ratio(r).toFixed(2)}× the attacker's CPU`,
  target: "≤ 5×",
  met: ratio(r) <= 5,
});

async function attacked(
  script: string,
  args: string[],
  d: Daemon,
  sshd: TestSshd,
): Promise<{ attackerCpuS: number; normal?: number }> {
  const a = asNobody(script, args);
  const normal = await normalDelay(d, sshd);
  const r = await a.done;
  if (r.code !== 0) throw new Error(`bench: the attack failed: ${r.stderr}`);
  return normal === undefined ? { attackerCpuS: r.cpuS } : { attackerCpuS: r.cpuS, normal };
}

/** The honest row's sessions said apart: the first WARM + 1, and how long all took. */
const WARM = 199;
const honest = { warmCpuS: 0, warmSessions: 0, seconds: 1 };

function plans(quick: boolean, ebpf: boolean): Plan[] {
  const secs = quick ? 3 : 10;
  const sources: ("procfs" | "ebpf")[] = ebpf ? ["ebpf", "procfs"] : ["procfs"];
  const out: Plan[] = [];
  for (const source of sources) {
    out.push({
      attack: "2 MB argvs named ssh, connecting",
      source,
      ports: (s) => String(s),
      // 20 s (each such process takes about a second to start): the first few connections also pay
      // for compiling the code they run, and a handful would be mostly that.
      run: (d, s) =>
        attacked(ARGV_ATTACK, [String(s.port), String(quick ? secs : 20), String(2_000_000)], d, s),
      judge: (r) => {
        const n = r.d.lines.filter(
          (l) => l.text.includes('"connection-opened"') && l.text.includes('"nobody"'),
        ).length;
        const ms = (r.daemonCpuS * 1000) / Math.max(n, 1);
        return {
          figure: `${ms.toFixed(1)} ms of CPU per 2 MB argv (${n} connections)`,
          target: "≤ 50 ms",
          met: ms <= 50,
        };
      },
    });
    out.push({
      attack: "1,000 refused connects a second",
      source,
      ports: (s, c) => `${s},${c}`,
      run: (d, s, c) => attacked(REFUSED_ATTACK, [String(c), String(1000 * secs), "1000"], d, s),
      judge: (r) => {
        const records = r.d.lines.filter(
          (l) => l.text.includes('"nobody"') && l.text.includes('"connection-'),
        ).length;
        const core = (r.daemonCpuS / r.seconds) * 100;
        const perS = records / r.seconds;
        return {
          figure: `${core.toFixed(1)} % of a core, ${perS.toFixed(0)} records/s`,
          target: "≤ 5 %, ≤ 100 records/s",
          met: core <= 5 && perS <= 100,
        };
      },
    });
    out.push({
      attack: "a task named ssh: 5,000 sockets, a refused connect each 20 ms",
      source,
      ports: (s, c) => `${s},${c}`,
      run: (d, s, c) => attacked(SOCKETS_ATTACK, [String(c), String(secs)], d, s),
      judge: byRatio,
    });
  }
  if (ebpf) {
    out.push({
      attack: "2,000 unix connects by a task named ssh holding 10,000 sockets",
      source: "ebpf",
      ports: (s) => String(s),
      run: (d, s) => attacked(UNIX_ATTACK, ["2000"], d, s),
      judge: byRatio,
    });
    out.push({
      attack: "honest: real ssh sessions, 20 a second",
      source: "ebpf",
      ports: (s) => String(s),
      // 1,200 sessions, as the issue's own measurement: the first couple of hundred also pay for
      // compiling the code they run (said apart in the figure).
      async run(d, s) {
        const n = quick ? 20 * secs : 1200;
        const runs: Promise<unknown>[] = [];
        const start = performance.now();
        let t0 = start;
        const cpu0 = cpuSeconds(d.child.pid as number);
        for (let i = 0; i < n; i++) {
          const wait = t0 + i * 50 - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          runs.push(runClient([...s.sshArgs, "true"]));
          if (i === WARM) {
            await Promise.all(runs);
            honest.warmCpuS = cpuSeconds(d.child.pid as number) - cpu0;
            honest.warmSessions = i + 1;
            t0 = performance.now() - (i + 1) * 50; // on at the same pace, not in a burst to catch up
          }
        }
        await Promise.all(runs);
        honest.seconds = (performance.now() - start) / 1000;
        return { attackerCpuS: 0 };
      },
      judge: (r) => {
        const n = r.d.lines.filter((l) => l.text.includes('"connection-closed"')).length;
        const ms = (r.daemonCpuS * 1000) / Math.max(n, 1);
        const warm =
          honest.warmSessions > 0 && n > honest.warmSessions
            ? `; the first ${honest.warmSessions}: ${((honest.warmCpuS * 1000) / honest.warmSessions).toFixed(2)} ms each, the rest ${(((r.daemonCpuS - honest.warmCpuS) * 1000) / (n - honest.warmSessions)).toFixed(2)} ms`
            : "";
        return {
          figure: `${ms.toFixed(2)} ms of CPU per session (${n} sessions, ${(n / honest.seconds).toFixed(1)} a second${warm})`,
          target: "≤ 0.5 ms",
          met: ms <= 0.5,
        };
      },
    });
  }
  return out;
}

export async function hostileRows(
  cli: string,
  sshd: TestSshd,
  quick: boolean,
  ebpf: boolean,
): Promise<HostileRow[]> {
  const rows: HostileRow[] = [];
  for (const p of plans(quick, ebpf)) {
    const closed = await freePort();
    console.error(`bench: hostile: ${p.attack} (${p.source})`);
    const d = startDaemon(cli, p.source, p.ports(sshd.port, closed));
    try {
      await until("monitor-started", () => d.lines.some((l) => l.text.includes('"monitor-started"')), 30_000);
      const pid = d.child.pid as number;
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      const r = await p.run(d, sshd, closed);
      const seconds = (performance.now() - t0) / 1000;
      const daemonCpuS = cpuSeconds(pid) - cpu0;
      const j = p.judge({ daemonCpuS, attackerCpuS: r.attackerCpuS, seconds, d });
      rows.push({
        attack: p.attack,
        source: p.source,
        attackerCpuS: r.attackerCpuS,
        daemonCpuS,
        seconds,
        peakRssMb: peakRssMb(pid),
        normalDelayMs: r.normal,
        ...j,
      });
    } finally {
      await d.stop();
    }
  }
  return rows;
}

const f = (n: number | undefined, digits = 2) => (n === undefined ? "–" : n.toFixed(digits));

export function hostileTable(rows: readonly HostileRow[]): string {
  const head =
    "\n\n### Hostile: attacks of an unprivileged user (issue 19), each against a fresh daemon with default options\n\n" +
    "| attack | source | attacker CPU s | daemon CPU s | daemon ÷ attacker | peak RSS MB | normal session in the trail after | the figure | target | met |\n" +
    "|---|---|---:|---:|---:|---:|---:|---|---|---|\n";
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.attack} | ${r.source} | ${f(r.attackerCpuS)} | ${f(r.daemonCpuS)} | ${r.attackerCpuS > 0 ? `${f(r.daemonCpuS / r.attackerCpuS)}×` : "–"} | ${f(r.peakRssMb, 1)} | ${r.normalDelayMs === undefined ? "–" : `${f(r.normalDelayMs, 0)} ms`} | ${r.figure} | ${r.target} | ${r.met ? "yes" : "**no**"} |`,
      )
      .join("\n") +
    "\n"
  );
}
