/**
 * npm run bench [-- --quick] [--procs N] [--files N] [--conns N] [--per-duration N] [--ssh N] [--idle S]
 *                 [--open N] [--no-hostile] [--no-protocol] [--out DIR]
 *
 * Builds ref-load, starts a real sshd on 127.0.0.1, then measures in one run: the lsof loop (the earlier
 * design), our procfs source and our eBPF source, at 50 ms and 250 ms. Writes a Markdown table to
 * bench/results/ and prints it. Needs root (lsof sees every process; eBPF; sshd); says so otherwise.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, release } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { checkEbpf } from "../src/sources/ebpf/check.ts";
import { startSshd } from "../test/helpers/sshd.ts";
import { type Contender, daemon, lsofPoller } from "./contenders.ts";
import { type HostileRow, hostileRows, hostileTable } from "./hostile.ts";
import { holdConnections, startRefLoad } from "./load.ts";
import { peakRssMb, percentile, tree, treeCpuSeconds } from "./measure.ts";
import { protocolRows, protocolTable } from "./protocol.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DURATIONS = [1, 10, 50, 100, 250, 1000];

interface Options {
  quick: boolean;
  procs: number;
  files: number;
  conns: number;
  perDuration: number;
  sshSessions: number;
  idleS: number;
  intervals: number[];
  /** SSH connections held open for the "many open connections" row. */
  open: number;
  /** --no-hostile: leave the hostile table out. */
  noHostile: boolean;
  /** --no-protocol: leave out the protocol-detection overhead rows (bench/protocol.ts). */
  noProtocol: boolean;
}

function options(argv: string[]): Options {
  const quick = argv.includes("--quick");
  const num = (flag: string, def: number) => {
    const i = argv.indexOf(flag);
    if (i < 0) return def;
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 0) {
      console.error(`bench: ${flag} must be a non-negative integer, got ${argv[i + 1]}`);
      process.exit(2);
    }
    return v;
  };
  return {
    quick,
    procs: num("--procs", quick ? 50 : 500),
    files: num("--files", quick ? 20 : 100),
    conns: num("--conns", quick ? 200 : 5000),
    perDuration: num("--per-duration", quick ? 10 : 50),
    sshSessions: num("--ssh", quick ? 2 : 10),
    idleS: num("--idle", quick ? 3 : 30),
    intervals: [50, 250],
    open: num("--open", quick ? 200 : 1000),
    noHostile: argv.includes("--no-hostile"),
    noProtocol: argv.includes("--no-protocol"),
  };
}

interface Probe {
  durationMs: number;
  localPort: number;
  pid?: number;
  t0: number;
}

/**
 * Raw TCP connects to the ssh port, held for each duration, at most `parallel` at a time: sshd forks
 * and re-executes itself for every connection, and more in parallel would saturate 2 cores with sshd
 * alone, measuring the scheduler rather than the monitors.
 */
async function rawConnects(port: number, perDuration: number, parallel = 4): Promise<Probe[]> {
  const jobs = DURATIONS.flatMap((d) => Array.from({ length: perDuration }, () => d));
  const probes: Probe[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const durationMs = jobs[next++] as number;
      const t0 = performance.now();
      const s = connect(port, "127.0.0.1");
      s.on("error", () => {});
      await new Promise<void>((r) => s.once("connect", () => r()));
      probes.push({ durationMs, localPort: s.localPort as number, t0 });
      await new Promise((r) => setTimeout(r, durationMs));
      s.destroy();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return probes;
}

/** Real `ssh … true` sessions, one after another; identified by the client's pid. */
async function sshSessions(sshArgs: string[], n: number): Promise<Probe[]> {
  const out: Probe[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const child = spawn("ssh", [...sshArgs, "true"], { stdio: "ignore" });
    const t1 = performance.now();
    await new Promise((r) => child.once("exit", r));
    out.push({ durationMs: Math.round(performance.now() - t1), localPort: -1, pid: child.pid as number, t0 });
  }
  return out;
}

interface Row {
  label: string;
  startMs?: number;
  /** Idle CPU in the second window (see measure). */
  settledCpuPct?: number;
  source: string;
  intervalMs?: number;
  cpuPct: number;
  cpuPerPollMs?: number;
  polls?: number;
  rssMb?: number;
  helperRssMb?: number;
  detection: Record<string, string>;
  p50?: number;
  p99?: number;
  /** Sorted sizes of the records written for the ssh sessions (ours only). */
  recordBytes: number[];
}

async function measure(c: Contender, o: Options, sshdPort: number, sshArgs: string[]): Promise<Row> {
  await c.ready;
  await new Promise((r) => setTimeout(r, 1000));
  const root = c.root.pid as number;
  const cpu0 = treeCpuSeconds(root);
  const polls0 = c.polls();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, o.idleS * 1000));
  const cpu1 = treeCpuSeconds(root);
  const wall = (performance.now() - w0) / 1000;
  const polls = c.polls() !== undefined ? (c.polls() as number) - (polls0 as number) : undefined;
  const cpuS = cpu1 - cpu0;
  // A second idle window right after the first: the first starts a second after the contender is
  // ready, while a runtime is still settling (V8 shrinks its heap for a while after start).
  const w1 = performance.now();
  await new Promise((r) => setTimeout(r, o.idleS * 1000));
  const settledCpuPct = (100 * (treeCpuSeconds(root) - cpu1)) / ((performance.now() - w1) / 1000);

  const probes = [
    ...(await rawConnects(sshdPort, o.perDuration)),
    ...(await sshSessions(sshArgs, o.sshSessions)),
  ];
  // Late lines: a slow poller reports after its current call. Wait until all are seen or 5 s pass.
  const deadline = performance.now() + 5000 + 3 * (c.intervalMs ?? 0);
  while (performance.now() < deadline && probes.some((p) => c.seen(p.localPort, p.pid) === undefined)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const pids = tree(root);
  const rssMb = peakRssMb(root);
  const startMs = c.startMs?.();
  const helper = pids.find((p) => p !== root);
  const helperRssMb = c.source === "ebpf" && helper ? peakRssMb(helper) : undefined;
  await c.stop();
  // The size of each record our daemon wrote for the ssh sessions: bytes on disk, newline included.
  const sshPids = new Set(probes.flatMap((p) => (p.pid === undefined ? [] : [p.pid])));
  const recordBytes = c.lines
    .filter((l) => sshPids.has(Number(/"process":\{"pid":(\d+)/.exec(l.text)?.[1])))
    .map((l) => Buffer.byteLength(l.text) + 1)
    .sort((a, b) => a - b);

  const detection: Record<string, string> = {};
  const latencies: number[] = [];
  for (const d of [...DURATIONS, -1]) {
    const set =
      d === -1
        ? probes.filter((p) => p.pid !== undefined)
        : probes.filter((p) => p.durationMs === d && p.pid === undefined);
    if (set.length === 0) continue;
    let hit = 0;
    for (const p of set) {
      const t = c.seen(p.localPort, p.pid);
      if (t === undefined) continue;
      hit++;
      // Latency from raw connects only: their connect() time is exact; ssh's is somewhere after spawn.
      if (p.pid === undefined) latencies.push(t - p.t0);
    }
    detection[d === -1 ? "ssh" : `${d} ms`] = `${Math.round((100 * hit) / set.length)}%`;
  }
  latencies.sort((a, b) => a - b);
  const ticks =
    c.source === "lsof"
      ? polls
      : c.source === "procfs"
        ? (wall * 1000) / (c.intervalMs as number)
        : undefined;
  return {
    label: c.label,
    startMs,
    settledCpuPct,
    source: c.source,
    intervalMs: c.intervalMs,
    cpuPct: (100 * cpuS) / wall,
    cpuPerPollMs: ticks ? (1000 * cpuS) / ticks : undefined,
    polls: ticks,
    rssMb,
    helperRssMb,
    detection,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    recordBytes,
  };
}

interface OpenRow {
  open: number;
  cpuPct: number;
  cpuPerTickMs: number;
  rssMb?: number;
}

/**
 * The procfs source at 50 ms while `o.open` idle connections to an SSH port stay open (the cost that
 * grows with open connections: a by-id lookup each, or one filtered dump). The connections are raw
 * TCP to a port named in --ports, held by one process: the source sees them as SSH connections.
 */
async function measureOpen(cli: string, o: Options, sshdPort: number): Promise<OpenRow> {
  const held = await holdConnections(o.open);
  const c = daemon(cli, "procfs", `${sshdPort},${held.port}`, 50);
  try {
    await c.ready;
    const deadline = performance.now() + 60_000;
    const opened = () => c.lines.filter((l) => l.text.includes('"connection-opened"')).length;
    while (opened() < o.open && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (opened() < o.open) throw new Error(`only ${opened()} of ${o.open} open connections were logged`);
    await new Promise((r) => setTimeout(r, 1000));
    const root = c.root.pid as number;
    const cpu0 = treeCpuSeconds(root);
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, o.idleS * 1000));
    const cpuS = treeCpuSeconds(root) - cpu0;
    const wall = (performance.now() - w0) / 1000;
    return {
      open: o.open,
      cpuPct: (100 * cpuS) / wall,
      cpuPerTickMs: (1000 * cpuS) / ((wall * 1000) / 50),
      rssMb: peakRssMb(root),
    };
  } finally {
    await c.stop();
    held.stop();
  }
}

interface PlainRow {
  connects: number;
  seen: number;
  p50?: number;
  p99?: number;
}

/**
 * The eBPF source's latency with a plain TCP listener as the target instead of sshd (which forks and
 * re-executes itself per connection and keeps both cores busy): 200 connects, 4 at a time, held 5 ms.
 */
async function measurePlain(cli: string): Promise<PlainRow> {
  const server = createServer((s) => {
    s.on("error", () => undefined);
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const c = daemon(cli, "ebpf", port);
  try {
    await c.ready;
    const probes: Probe[] = [];
    let next = 0;
    const worker = async () => {
      while (next++ < 200) {
        const t0 = performance.now();
        const s = connect(port, "127.0.0.1");
        s.on("error", () => {});
        await new Promise<void>((r) => s.once("connect", () => r()));
        probes.push({ durationMs: 5, localPort: s.localPort as number, t0 });
        await new Promise((r) => setTimeout(r, 5));
        s.destroy();
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline && probes.some((p) => c.seen(p.localPort) === undefined)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const lat = probes
      .map((p) => (c.seen(p.localPort) ?? Number.NaN) - p.t0)
      .filter((v) => !Number.isNaN(v))
      .sort((a, b) => a - b);
    return { connects: probes.length, seen: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99) };
  } finally {
    await c.stop();
    server.close();
  }
}

function plainTable(r: PlainRow): string {
  return [
    "",
    `eBPF with a plain TCP listener as the target (${r.connects} connects, 4 at a time, 5 ms each): ${r.seen} seen, latency p50 ${f1(r.p50)} ms, p99 ${f1(r.p99)} ms.`,
  ].join("\n");
}

function openTable(r: OpenRow): string {
  return [
    "",
    `Many open connections: ${r.open} idle connections to an SSH port held open (raw TCP from one process to a port named in --ports), no other activity, over the idle window.`,
    "",
    "| contender | open SSH connections | idle CPU, % of a core | CPU per tick, ms | peak RSS, MB |",
    "| --- | --- | --- | --- | --- |",
    `| ours, procfs @ 50 ms | ${r.open} | ${f1(r.cpuPct, 2)} | ${f1(r.cpuPerTickMs, 2)} | ${f1(r.rssMb)} |`,
  ].join("\n");
}

const f1 = (n: number | undefined, digits = 1) => (n === undefined ? "–" : n.toFixed(digits));

function table(rows: Row[], o: Options, machine: string): string {
  const lsofPerPoll = (interval?: number) =>
    rows.find((r) => r.source === "lsof" && r.intervalMs === interval)?.cpuPerPollMs;
  const head = [
    "contender",
    "idle CPU, % of a core",
    "CPU per poll, ms",
    "× cheaper per poll than lsof",
    "peak RSS, MB",
    ...DURATIONS.map((d) => `${d} ms`),
    "ssh",
    "latency p50 / p99, ms",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
  for (const r of rows) {
    const base = lsofPerPoll(r.intervalMs);
    const ratio = r.source === "lsof" ? "1" : base && r.cpuPerPollMs ? f1(base / r.cpuPerPollMs, 0) : "–";
    const rss = r.helperRssMb ? `${f1(r.rssMb)} (+ helper ${f1(r.helperRssMb)})` : f1(r.rssMb);
    lines.push(
      `| ${[r.label, f1(r.cpuPct, 2), f1(r.cpuPerPollMs, 2), ratio, rss, ...DURATIONS.map((d) => r.detection[`${d} ms`] ?? "–"), r.detection.ssh ?? "–", `${f1(r.p50)} / ${f1(r.p99)}`].join(" | ")} |`,
    );
  }
  return [
    `Machine: ${machine}. Load: ${o.procs} idle processes × ${o.files} open files, ${o.conns} idle loopback TCP connections; ${o.perDuration} raw connects per duration and ${o.sshSessions} real ssh sessions per contender; idle window ${o.idleS} s.${o.quick ? " **--quick run**: smaller load and samples, not for comparison." : ""}`,
    "",
    ...lines,
    "",
    `Idle CPU in a second window of the same length right after the first (% of a core): ${rows
      .map((r) => `${r.label} ${f1(r.settledCpuPct, 2)}`)
      .join(", ")}.`,
    "",
    `Record sizes (the records written for the real ssh sessions, bytes with the newline): ${rows
      .filter((r) => r.recordBytes.length > 0)
      .map(
        (r) =>
          `${r.label}: median ${percentile(r.recordBytes, 50)}, p99 ${percentile(r.recordBytes, 99)}, max ${r.recordBytes.at(-1)} (${r.recordBytes.length} records)`,
      )
      .join("; ")}.`,
    "",
    `Start to capturing (spawning \`node dist/cli.js run\` to its monitor-started line): ${rows
      .filter((r) => r.startMs !== undefined)
      .map((r) => `${r.label} ${f1(r.startMs, 0)} ms`)
      .join(", ")}.`,
    "",
    "CPU: utime+stime of the contender's process tree, plus what it reaped (each lsof of the loop), over the idle window. Per poll: lsof, the loop iterations counted; procfs, the window ÷ the interval. Detection: share of connections that appear in the contender's output. Latency: from the connect() call of a raw connect to the line's arrival on the contender's stdout (a pipe; the daemon writes each line with one synchronous write).",
  ].join("\n");
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error(
      "bench: needs root: lsof must see every process, the eBPF source needs CAP_BPF, sshd needs root",
    );
    process.exit(1);
  }
  const hasLsof = (() => {
    try {
      execFileSync("lsof", ["-v"], { stdio: "ignore" });
      return true;
    } catch (e) {
      return (e as { status?: number }).status !== 127 && (e as { code?: string }).code !== "ENOENT";
    }
  })();
  console.error("bench: building dist/ (npm run build)");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  const started = new Date();
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), Linux ${release()}, Node ${process.version}, ${started.toISOString().slice(0, 10)}`;
  console.error(`bench: ref-load ${o.procs} × ${o.files} files, ${o.conns} connections`);
  const load = await startRefLoad(o.procs, o.files, o.conns);
  const sshd = await startSshd();
  const cli = `${ROOT}dist/cli.js`;
  const ebpf = checkEbpf();
  const rows: Row[] = [];
  let openRow: OpenRow | undefined;
  let plainRow: PlainRow | undefined;
  let hostile: HostileRow[] = [];
  let protocol: Awaited<ReturnType<typeof protocolRows>> | undefined;
  const protocolOpts = o.quick
    ? { rounds: 3, bulkS: 1, shortN: 300, perfS: 2 }
    : { rounds: 12, bulkS: 2, shortN: 1500, perfS: 8 };
  try {
    for (const interval of o.intervals) {
      const plan: (() => Contender)[] = [];
      if (hasLsof) plan.push(() => lsofPoller(sshd.port, interval));
      else console.error("bench: lsof not installed; no baseline (apt-get install lsof)");
      plan.push(() => daemon(cli, "procfs", sshd.port, interval));
      for (const make of plan) {
        const c = make();
        console.error(`bench: measuring ${c.label}`);
        rows.push(await measure(c, o, sshd.port, sshd.sshArgs));
      }
    }
    if (ebpf.ok) {
      const c = daemon(cli, "ebpf", sshd.port);
      console.error(`bench: measuring ${c.label}`);
      rows.push(await measure(c, o, sshd.port, sshd.sshArgs));
      console.error("bench: measuring eBPF latency with a plain TCP listener");
      plainRow = await measurePlain(cli);
    } else {
      console.error(`bench: eBPF source not measured: ${ebpf.reason}`);
    }
    if (o.open > 0) {
      console.error(`bench: measuring procfs @ 50 ms with ${o.open} SSH connections open`);
      openRow = await measureOpen(cli, o, sshd.port);
    }
    // The attacks on a host without the reference load: what each costs by itself.
    load.stop();
    if (!o.noHostile) hostile = await hostileRows(cli, sshd, o.quick, ebpf.ok);
    if (!o.noProtocol && ebpf.ok) protocol = await protocolRows(cli, protocolOpts);
  } finally {
    sshd.stop();
    load.stop();
  }
  const md =
    table(rows, o, machine) +
    (plainRow ? plainTable(plainRow) : "") +
    (openRow ? openTable(openRow) : "") +
    (hostile.length ? hostileTable(hostile) : "") +
    (protocol ? protocolTable(protocol, protocolOpts) : "");
  const outAt = process.argv.indexOf("--out");
  const dir = outAt > 0 ? (process.argv[outAt + 1] as string) : `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:T]/g, "-").slice(0, 16);
  const name = `${stamp}${o.quick ? "-quick" : ""}`;
  writeFileSync(`${dir}/${name}.md`, `# Benchmark ${started.toISOString()}\n\n${md}\n`);
  writeFileSync(
    `${dir}/${name}.json`,
    `${JSON.stringify({ machine, options: o, rows, openRow, plainRow, hostile, protocol }, null, 2)}\n`,
  );
  console.log(md);
  console.error(
    `bench: written ${dir}/${name}.md (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`,
  );
}

await main();
