import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";

/** One monitor under test: a process tree whose output lines are timestamped as they arrive. */
export interface Contender {
  label: string;
  source: "lsof" | "procfs" | "ebpf";
  intervalMs: number | undefined;
  /** The process whose tree is measured (the shell loop, or the daemon). */
  root: ChildProcess;
  /** Output lines with their arrival time (performance.now(), ms). */
  lines: { t: number; text: string }[];
  /** Polls made so far (lsof: one marker line per loop iteration), when the contender can tell. */
  polls(): number | undefined;
  ready: Promise<void>;
  /** Arrival time of the first line that shows the connection from local port `port`, or by `pid`. */
  seen(localPort: number, pid?: number): number | undefined;
  /** From spawning the daemon to its monitor-started line (ms): the time it takes to start capturing. */
  startMs?: () => number | undefined;
  stop(): Promise<void>;
}

function collect(child: ChildProcess, lines: { t: number; text: string }[]): void {
  let partial = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    const t = performance.now();
    partial += chunk;
    let nl = partial.indexOf("\n");
    while (nl >= 0) {
      lines.push({ t, text: partial.slice(0, nl) });
      partial = partial.slice(nl + 1);
      nl = partial.indexOf("\n");
    }
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-(child.pid as number), "SIGTERM");
      } catch {
        child.kill("SIGTERM");
      }
    }
    await exited;
  };
}

const TICK = "@@tick";

/**
 * The earlier design's mechanism, as the baseline: a shell loop running `lsof -Pn -i :PORT` every
 * interval. Not our code; its CPU includes every lsof it has run (cutime/cstime of the shell).
 */
export function lsofPoller(port: number, intervalMs: number): Contender {
  const loop = `while :; do echo ${TICK}; lsof -Pn -i :${port}; sleep ${intervalMs / 1000}; done`;
  const root = spawn("sh", ["-c", loop], { stdio: ["ignore", "pipe", "ignore"], detached: true });
  const lines: { t: number; text: string }[] = [];
  collect(root, lines);
  const ready = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (lines.filter((l) => l.text === TICK).length >= 2) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  return {
    label: `lsof loop @ ${intervalMs} ms`,
    source: "lsof",
    intervalMs,
    root,
    lines,
    polls: () => lines.filter((l) => l.text === TICK).length,
    ready,
    seen(localPort, pid) {
      const needle = `:${localPort}->`;
      for (const l of lines) {
        if (l.text.includes(needle)) return l.t;
        if (pid !== undefined && l.text.includes("->") && l.text.split(/\s+/)[1] === String(pid)) return l.t;
      }
      return undefined;
    },
    stop: stopper(root),
  };
}

/** Our daemon, compiled (dist/), as `npm start` runs it, writing JSON lines to a pipe. */
export function daemon(
  cli: string,
  source: "procfs" | "ebpf",
  port: number | string,
  intervalMs?: number,
  extra: string[] = [],
): Contender {
  const args = [
    cli,
    "run",
    "--source",
    source,
    "--ports",
    String(port),
    "--format",
    "json",
    "--stats-interval",
    "0",
    // Each run measured by itself: no probe pinned by one run is taken over by the next.
    "--pin",
    "none",
    // The bench measures the cost of writing every connection: the per-user flood limit is off here
    // (its own cost is the hostile table's).
    "--user-rate",
    "0",
  ];
  if (intervalMs !== undefined) args.push("--interval", String(intervalMs));
  args.push(...extra);
  const spawnedAt = performance.now();
  const root = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  root.stderr?.on("data", (d) => {
    stderr += d;
  });
  const lines: { t: number; text: string }[] = [];
  collect(root, lines);
  const events = new Map<number, { port?: number; pid?: number }>();
  const parsed = (i: number) => {
    let e = events.get(i);
    if (!e) {
      try {
        const j = JSON.parse(lines[i]?.text ?? "");
        e = { port: j.source?.port, pid: j.process?.pid };
      } catch {
        e = {};
      }
      events.set(i, e);
    }
    return e;
  };
  const ready = new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (lines.some((l) => l.text.includes('"monitor-started"'))) {
        clearInterval(check);
        resolve();
      } else if (root.exitCode !== null) {
        clearInterval(check);
        reject(new Error(`daemon exited ${root.exitCode}: ${stderr}`));
      }
    }, 20);
  });
  return {
    label: source === "ebpf" ? "ours, eBPF" : `ours, procfs @ ${intervalMs} ms`,
    source,
    intervalMs,
    root,
    lines,
    polls: () => undefined,
    ready,
    startMs: () => {
      const line = lines.find((l) => l.text.includes('"monitor-started"'));
      return line ? line.t - spawnedAt : undefined;
    },
    seen(localPort, pid) {
      for (let i = 0; i < lines.length; i++) {
        const e = parsed(i);
        if (e.port === localPort || (pid !== undefined && e.pid === pid)) return lines[i]?.t;
      }
      return undefined;
    },
    stop: stopper(root),
  };
}
