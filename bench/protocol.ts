/**
 * What recognising SSH by its protocol costs a host that moves no SSH at all (issue 24): bulk TCP
 * (iperf3 on loopback, Debian's) and many short non-SSH connections (a request and a reply each), with
 * no daemon, with the eBPF daemon and --protocol off, and with it on, in alternating rounds so that the
 * VM's drift hits all three alike; medians of the rounds. Beside them, the programs' own time per run
 * from the kernel's BPF statistics (kernel.bpf_stats_enabled, on only while measuring).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, listening } from "../test/helpers/sshd.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { daemon } from "./contenders.ts";
import { percentile, treeCpuSeconds } from "./measure.ts";

export type Mode = "none" | "off" | "on" | "packets";
const MODES: Mode[] = ["none", "off", "on", "packets"];
const LABEL: Record<Mode, string> = {
  none: "no daemon",
  off: "eBPF daemon, --protocol off",
  on: "eBPF daemon, --protocol on (socket hooks)",
  packets: "eBPF daemon, --protocol packets",
};

export interface ProtocolRow {
  mode: Mode;
  label: string;
  /** Each round's figures against the same round's --protocol off, medians (1 = the same). */
  vsOff?: { gbps: number; bulkCpuPerGb: number; connsPerS: number; shortCpuPer1k: number };
  /** iperf3: Gbit/s received, median of the rounds. */
  gbps: number;
  /** Machine CPU (all cores, /proc/stat) per GB moved, seconds. */
  bulkCpuPerGb: number;
  /** Short connections a second, median. */
  connsPerS: number;
  /** Machine CPU per 1,000 short connections, seconds. */
  shortCpuPer1k: number;
  /** The daemon's own CPU over the short-connection runs, seconds per 1,000 connections. */
  daemonCpuPer1k?: number;
  /** Records the daemon wrote for the non-SSH traffic (should be none). */
  records?: number;
}

export interface ProgramCost {
  name: string;
  runs: number;
  nsPerRun: number;
}

export interface ProgramShare {
  programs: ProgramCost[];
  /** The programs' time as a share of the machine's busy CPU over the same runs. */
  share: number;
}

/**
 * Where the machine's CPU went while iperf3 saturated it, sampled by perf (cpu-clock, every core, call
 * graphs), per mode: the share of all samples inside the kernel's entry into each kind of BPF program
 * (dispatch, program and helpers together), told apart by who called the entry. Unlike throughput,
 * which drifts by tens of per cent on this VM, tens of thousands of samples resolve a tenth of a per
 * cent, and the detection's share is read in one run, not as a difference of two.
 */
export interface HookShare {
  mode: Mode;
  label: string;
  workload: "bulk" | "short";
  samples: number;
  /** cgroup_skb (the packet hooks). */
  packets: number;
  /** tp_btf/tcp_sendmsg_locked and tp_btf/tcp_probe (the socket hooks). */
  socket: number;
  /** The session programs on every system call (raw sys_enter/sys_exit), which run in every mode. */
  syscalls: number;
  /** Any other program's (the connection program, exec, exit). */
  other: number;
}

type HookKind = "packets" | "socket" | "syscalls" | "other";

/**
 * The programs' own time per short connection in one mode, by the kernel's BPF statistics over the
 * first round's short connections: what each connection costs in the kernel, read in one run rather
 * than as a difference of two throughputs.
 */
export interface PerConnection {
  mode: Mode;
  label: string;
  programs: { name: string; runsPerConn: number; nsPerConn: number }[];
  /** All of them, ns per connection. */
  nsPerConn: number;
  /** The machine's CPU per connection over the same connections (/proc/stat, every core), ns. */
  machineNsPerConn: number;
}

/** `perf script -F ip,sym` output as samples, each its frames' symbols, leaf first. */
export function perfSamples(script: string): string[][] {
  return script.split(/\n\s*\n/).map((sample) =>
    sample
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[1])
      .filter((f): f is string => f !== undefined),
  );
}

/**
 * The kind of BPF program a sample of `perf script` (frames leaf first, "addr symbol" each) was in, or
 * undefined when it was in none: under cgroup_skb's entry, or under a raw tracepoint's (bpf_trace_runN)
 * called from TCP's send or receive path, from a system call's entry or exit, or from elsewhere.
 */
export function hookKind(frames: string[]): HookKind | undefined {
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as string;
    if (f === "__cgroup_bpf_run_filter_skb") return "packets";
    if (/^bpf_trace_run\d$/.test(f)) {
      const callers = frames.slice(i + 1, i + 3).join(" ");
      if (/tcp_probe|tcp_rcv_established|tcp_sendmsg_locked/.test(callers)) return "socket";
      if (/sys_enter|sys_exit/.test(callers)) return "syscalls";
      return "other";
    }
  }
  return undefined;
}

/** Busy and total jiffies of the whole machine (/proc/stat's first line). */
function cpuJiffies(): { busy: number; total: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] as string)
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** iperf3 for `seconds` on loopback: Gbit/s received and machine CPU seconds spent. */
async function bulk(seconds: number): Promise<{ gbps: number; cpuS: number; bytes: number }> {
  const port = await freePort();
  const server = spawn("iperf3", ["-s", "-1", "-B", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  try {
    await waitFor(`a listener on ${port}`, () => listening(port, undefined), 5000);
    const before = cpuJiffies();
    const out = execFileSync("iperf3", ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-J"], {
      maxBuffer: 64 << 20,
    }).toString();
    const after = cpuJiffies();
    const j = JSON.parse(out);
    const bytes = j.end.sum_received.bytes as number;
    return { gbps: j.end.sum_received.bits_per_second / 1e9, cpuS: (after.busy - before.busy) / 100, bytes };
  } finally {
    server.kill();
  }
}

const SHORT_SERVER = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
while True:
    c, _ = s.accept()
    try:
        c.recv(200); c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
    finally:
        c.close()
`;
const SHORT_CLIENT = `
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic()
for _ in range(n):
    k = socket.create_connection(("127.0.0.1", port))
    k.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); k.recv(200); k.close()
print(time.monotonic() - t0)
`;

/** `n` short connections, one after another: connections a second and machine CPU seconds. */
async function short(n: number): Promise<{ perS: number; cpuS: number }> {
  const port = await freePort();
  const dir = tmpdir();
  const serverPy = join(dir, "sol-bench-short-server.py");
  const clientPy = join(dir, "sol-bench-short-client.py");
  writeFileSync(serverPy, SHORT_SERVER);
  writeFileSync(clientPy, SHORT_CLIENT);
  const server = spawn("/usr/bin/python3", [serverPy, String(port)], { stdio: "ignore" });
  try {
    await waitFor(`a listener on ${port}`, () => listening(port, undefined), 5000);
    const before = cpuJiffies();
    const s = Number(execFileSync("/usr/bin/python3", [clientPy, String(port), String(n)]).toString());
    const after = cpuJiffies();
    return { perS: n / s, cpuS: (after.busy - before.busy) / 100 };
  } finally {
    server.kill();
  }
}

/** The kernel's statistics of our programs (run count and time), while kernel.bpf_stats_enabled is 1. */
function programStats(): Map<string, { runs: number; ns: number }> {
  const out = new Map<string, { runs: number; ns: number }>();
  const progs = JSON.parse(execFileSync("bpftool", ["prog", "show", "-j"]).toString()) as {
    name?: string;
    run_cnt?: number;
    run_time_ns?: number;
  }[];
  for (const p of progs) {
    if (!p.name || !["on_egress", "on_ingress", "on_send", "on_segment", "on_state_btf"].includes(p.name))
      continue;
    const had = out.get(p.name) ?? { runs: 0, ns: 0 };
    out.set(p.name, { runs: had.runs + (p.run_cnt ?? 0), ns: had.ns + (p.run_time_ns ?? 0) });
  }
  return out;
}

/** What each program did between two readings of programStats. */
function statsBetween(
  before: Map<string, { runs: number; ns: number }>,
  after: Map<string, { runs: number; ns: number }>,
): { name: string; runs: number; ns: number }[] {
  return [...after].map(([name, a]) => {
    const b = before.get(name) ?? { runs: 0, ns: 0 };
    return { name, runs: a.runs - b.runs, ns: a.ns - b.ns };
  });
}

const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  ) ?? Number.NaN;

/** Rounds of the three modes, alternating; the rows (medians) and what each program cost per run. */
export async function protocolRows(
  cli: string,
  o: { rounds: number; bulkS: number; shortN: number; perfS: number },
): Promise<{
  rows: ProtocolRow[];
  programs: ProgramShare;
  hooks: HookShare[];
  perConnection: PerConnection[];
}> {
  const samples = new Map<
    Mode,
    {
      gbps: number[];
      cpuPerGb: number[];
      perS: number[];
      cpuPer1k: number[];
      daemonPer1k: number[];
      records: number;
    }
  >();
  for (const m of MODES)
    samples.set(m, { gbps: [], cpuPerGb: [], perS: [], cpuPer1k: [], daemonPer1k: [], records: 0 });
  let programs: ProgramShare = { programs: [], share: 0 };
  const perConnection: PerConnection[] = [];
  const statsWas = readFileSync("/proc/sys/kernel/bpf_stats_enabled", "utf8").trim();
  try {
    for (let round = 0; round < o.rounds; round++) {
      // A different order each round: no mode always runs right after another.
      const order = [...MODES.slice(round % 3), ...MODES.slice(0, round % 3)];
      for (const mode of order) {
        console.error(`bench: protocol overhead, round ${round + 1}/${o.rounds}: ${LABEL[mode]}`);
        const c = mode === "none" ? undefined : daemon(cli, "ebpf", 22, undefined, ["--protocol", mode]);
        try {
          await c?.ready;
          // The first round's: every daemon's programs, each workload apart. The statistics add two
          // clock reads to each run, so they are on in that round only.
          const measureStats = c !== undefined && round === 0;
          if (measureStats) writeFileSync("/proc/sys/kernel/bpf_stats_enabled", "1");
          const before = measureStats ? programStats() : undefined;
          const busy0 = cpuJiffies().busy;
          const b = await bulk(o.bulkS);
          const between = measureStats ? programStats() : undefined;
          const cpu0 = c ? treeCpuSeconds(c.root.pid as number) : 0;
          const s = await short(o.shortN);
          const cpu1 = c ? treeCpuSeconds(c.root.pid as number) : 0;
          if (before && between) {
            const after = programStats();
            writeFileSync("/proc/sys/kernel/bpf_stats_enabled", "0");
            if (mode === "on") {
              const busyNs = ((cpuJiffies().busy - busy0) / 100) * 1e9;
              const all = statsBetween(before, after);
              const ns = all.reduce((t, p) => t + p.ns, 0);
              programs = {
                programs: all.map((p) => ({
                  name: p.name,
                  runs: p.runs,
                  nsPerRun: p.runs > 0 ? p.ns / p.runs : 0,
                })),
                share: busyNs > 0 ? ns / busyNs : 0,
              };
            }
            const short1 = statsBetween(between, after).filter((p) => p.runs > 0);
            perConnection.push({
              mode,
              label: LABEL[mode],
              programs: short1.map((p) => ({
                name: p.name,
                runsPerConn: p.runs / o.shortN,
                nsPerConn: p.ns / o.shortN,
              })),
              nsPerConn: short1.reduce((t, p) => t + p.ns, 0) / o.shortN,
              machineNsPerConn: (s.cpuS / o.shortN) * 1e9,
            });
          }
          const x = samples.get(mode) as NonNullable<ReturnType<typeof samples.get>>;
          x.gbps.push(b.gbps);
          x.cpuPerGb.push(b.cpuS / (b.bytes / 1e9));
          x.perS.push(s.perS);
          x.cpuPer1k.push((s.cpuS / o.shortN) * 1000);
          if (c) x.daemonPer1k.push(((cpu1 - cpu0) / o.shortN) * 1000);
          if (c) x.records += c.lines.filter((l) => l.text.includes('"connection-')).length;
        } finally {
          await c?.stop();
        }
      }
    }
  } finally {
    writeFileSync("/proc/sys/kernel/bpf_stats_enabled", statsWas);
  }
  const off = samples.get("off") as NonNullable<ReturnType<typeof samples.get>>;
  const ratio = (xs: number[], base: number[]) => median(xs.map((v, i) => v / (base[i] as number)));
  const rows = MODES.map((mode): ProtocolRow => {
    const x = samples.get(mode) as NonNullable<ReturnType<typeof samples.get>>;
    const row: ProtocolRow = {
      mode,
      label: LABEL[mode],
      gbps: median(x.gbps),
      bulkCpuPerGb: median(x.cpuPerGb),
      connsPerS: median(x.perS),
      shortCpuPer1k: median(x.cpuPer1k),
    };
    if (mode !== "none") {
      row.daemonCpuPer1k = median(x.daemonPer1k);
      row.records = x.records;
    }
    row.vsOff = {
      gbps: ratio(x.gbps, off.gbps),
      bulkCpuPerGb: ratio(x.cpuPerGb, off.cpuPerGb),
      connsPerS: ratio(x.perS, off.perS),
      shortCpuPer1k: ratio(x.cpuPer1k, off.cpuPer1k),
    };
    return row;
  });
  const hooks = hasPerf() ? await hookShares(cli, o.perfS) : [];
  return { rows, programs, hooks, perConnection };
}

function hasPerf(): boolean {
  try {
    execFileSync("perf", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    console.error("bench: perf not installed (apt-get install linux-perf): no sampled hook cost");
    return false;
  }
}

/**
 * perf's samples of the whole machine for `seconds`, counted by the kind of BPF program they were in;
 * `samples`: those of busy CPUs (an idle one's are left out).
 */
function sampleHooks(seconds: number, data: string): Pick<HookShare, "samples" | HookKind> {
  execFileSync(
    "perf",
    ["record", "-q", "-e", "cpu-clock", "-F", "2000", "-a", "-g", "-o", data, "--", "sleep", String(seconds)],
    { stdio: "ignore" },
  );
  const script = execFileSync("perf", ["script", "-i", data, "-F", "ip,sym"], {
    maxBuffer: 1 << 30,
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  rmSync(data, { force: true });
  const n: Record<HookKind, number> = { packets: 0, socket: 0, syscalls: 0, other: 0 };
  let samples = 0;
  for (const frames of perfSamples(script)) {
    // An idle CPU's samples are not the machine's work: the shares are of its busy time.
    if (frames.length === 0 || frames.includes("do_idle")) continue;
    samples++;
    const kind = hookKind(frames);
    if (kind) n[kind]++;
  }
  const share = (k: HookKind) => (samples > 0 ? n[k] / samples : 0);
  return {
    samples,
    packets: share("packets"),
    socket: share("socket"),
    syscalls: share("syscalls"),
    other: share("other"),
  };
}

/**
 * perf's view of the detection's cost (HookShare) in each mode but "none", a daemon per mode: bulk TCP
 * (iperf3 on loopback, client and server on different cores) and short connections (one after
 * another, as in the rounds), `seconds` of each sampled.
 */
export async function hookShares(cli: string, seconds: number): Promise<HookShare[]> {
  const out: HookShare[] = [];
  const data = join(tmpdir(), `sol-bench-perf-${process.pid}.data`);
  const serverPy = join(tmpdir(), "sol-bench-short-server.py");
  const clientPy = join(tmpdir(), "sol-bench-short-client.py");
  writeFileSync(serverPy, SHORT_SERVER);
  writeFileSync(clientPy, SHORT_CLIENT);
  for (const mode of MODES.filter((m) => m !== "none")) {
    console.error(`bench: protocol overhead, perf: ${LABEL[mode]}`);
    const c = daemon(cli, "ebpf", 22, undefined, ["--protocol", mode]);
    const loads: ChildProcess[] = [];
    try {
      await c.ready;
      const bulkPort = await freePort();
      loads.push(
        spawn("iperf3", ["-s", "-1", "-B", "127.0.0.1", "-p", String(bulkPort)], { stdio: "ignore" }),
      );
      await waitFor(`a listener on ${bulkPort}`, () => listening(bulkPort, undefined), 5000);
      loads.push(
        spawn("iperf3", ["-c", "127.0.0.1", "-p", String(bulkPort), "-t", String(seconds + 3), "-A", "0,1"], {
          stdio: "ignore",
        }),
      );
      await new Promise((r) => setTimeout(r, 1000));
      out.push({ mode, label: LABEL[mode], workload: "bulk", ...sampleHooks(seconds, data) });
      for (const l of loads.splice(0)) l.kill();
      const shortPort = await freePort();
      loads.push(spawn("/usr/bin/python3", [serverPy, String(shortPort)], { stdio: "ignore" }));
      await waitFor(`a listener on ${shortPort}`, () => listening(shortPort, undefined), 5000);
      loads.push(spawn("/usr/bin/python3", [clientPy, String(shortPort), "100000000"], { stdio: "ignore" }));
      await new Promise((r) => setTimeout(r, 1000));
      out.push({ mode, label: LABEL[mode], workload: "short", ...sampleHooks(seconds, data) });
    } finally {
      for (const l of loads) l.kill();
      await c.stop();
    }
  }
  return out;
}

const pct = (r: number | undefined) =>
  r === undefined ? "–" : `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(1)} %`;

export function protocolTable(
  r: { rows: ProtocolRow[]; programs: ProgramShare; hooks: HookShare[]; perConnection: PerConnection[] },
  o: { rounds: number; bulkS: number; shortN: number; perfS: number },
): string {
  const lines = [
    "",
    "### SSH by protocol: its overhead",
    "",
    `SSH by protocol, its cost on a host moving no SSH (issue 24): bulk TCP (iperf3 on loopback, ${o.bulkS} s a run) and ${o.shortN} short non-SSH connections (a request and a reply each, one after another, python), in ${o.rounds} rounds of the four modes in rotating order. Figures: medians over the rounds; "vs off": the median of each round's ratio to the same round's --protocol off (this VM's speed drifts by tens of per cent between runs a minute apart, so single figures mislead). Machine CPU from /proc/stat (every core, softirq included); the daemon's own CPU is part of it.`,
    "",
    "| mode | iperf3, Gbit/s | vs off | machine CPU per GB, s | vs off | short connections/s | vs off | machine CPU per 1,000, s | vs off | daemon CPU per 1,000, ms | records written |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const x of r.rows) {
    lines.push(
      `| ${x.label} | ${x.gbps.toFixed(2)} | ${pct(x.vsOff?.gbps)} | ${x.bulkCpuPerGb.toFixed(3)} | ${pct(x.vsOff?.bulkCpuPerGb)} | ${x.connsPerS.toFixed(0)} | ${pct(x.vsOff?.connsPerS)} | ${x.shortCpuPer1k.toFixed(3)} | ${pct(x.vsOff?.shortCpuPer1k)} | ${x.daemonCpuPer1k === undefined ? "–" : (x.daemonCpuPer1k * 1000).toFixed(1)} | ${x.records ?? "–"} |`,
    );
  }
  if (r.programs.programs.length > 0) {
    lines.push(
      "",
      `The programs' own time with --protocol on (kernel BPF statistics, which add two clock reads to each run; the first round's iperf3 and short connections): ${r.programs.programs
        .map((p) => `${p.name} ${p.runs} runs, ${p.nsPerRun.toFixed(0)} ns each`)
        .join(
          "; ",
        )}; together ${(r.programs.share * 100).toFixed(2)} % of the machine's busy CPU over those runs (the cgroup hook's own dispatch is not in it).`,
    );
  }
  const perConn = r.perConnection;
  const off = perConn.find((p) => p.mode === "off");
  if (perConn.length > 0) {
    const names = [...new Set(perConn.flatMap((p) => p.programs.map((q) => q.name)))];
    lines.push(
      "",
      `The programs' own time per short connection (kernel BPF statistics over the first round's ${o.shortN} short connections, each daemon; the statistics add two clock reads to each run). "Beyond off": the detection's own cost per connection, and its share of the machine's CPU per connection (every core, /proc/stat, the same connections).`,
      "",
      `| mode | ${names.map((n) => `${n}, ns (runs)`).join(" | ")} | all, ns | beyond off, ns | machine CPU per connection, µs | beyond off, share |`,
      `| --- | ${names.map(() => "---").join(" | ")} | --- | --- | --- | --- |`,
    );
    for (const p of perConn) {
      const cell = (n: string) => {
        const q = p.programs.find((x) => x.name === n);
        return q ? `${q.nsPerConn.toFixed(0)} (${q.runsPerConn.toFixed(1)})` : "–";
      };
      const beyond = off ? p.nsPerConn - off.nsPerConn : undefined;
      lines.push(
        `| ${p.label} | ${names.map(cell).join(" | ")} | ${p.nsPerConn.toFixed(0)} | ${beyond === undefined ? "–" : beyond.toFixed(0)} | ${(p.machineNsPerConn / 1000).toFixed(0)} | ${beyond === undefined || p.machineNsPerConn <= 0 ? "–" : `${((beyond / p.machineNsPerConn) * 100).toFixed(2)} %`} |`,
      );
    }
  }
  if (r.hooks.length > 0) {
    const share = (x: number) => `${(x * 100).toFixed(2)} %`;
    lines.push(
      "",
      `Where the CPU went, sampled (perf record -e cpu-clock -a -g, 2,000 Hz, ${o.perfS} s of each workload, a daemon per mode): bulk TCP (iperf3 on loopback, client and server on different cores) and short connections (as above, one after another). Each figure is the share of the busy CPUs' samples (an idle CPU's left out: one after another, short connections do not saturate the machine) inside the kernel's entry into one kind of BPF program (dispatch, program and helpers together), told apart by the entry's caller (perf script). Under bulk TCP both cores are saturated, so a share is the throughput it takes. The detection's own cost is the packet or socket hooks' share, plus, for short connections, what the connection program does for each candidate (its "other programs" share beyond --protocol off's); the session programs on every system call run in every mode.`,
      "",
      "| workload | mode | samples | packet hooks (cgroup_skb) | socket hooks (tcp_sendmsg_locked, tcp_probe) | **hooks' share** | other programs (connection, exec, exit) | session programs (sys_enter, sys_exit) |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const h of r.hooks) {
      lines.push(
        `| ${h.workload === "bulk" ? "iperf3" : "short connections"} | ${h.label} | ${h.samples} | ${share(h.packets)} | ${share(h.socket)} | **${share(h.packets + h.socket)}** | ${share(h.other)} | ${share(h.syscalls)} |`,
      );
    }
  }
  return lines.join("\n");
}
