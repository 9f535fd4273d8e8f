import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = `${ROOT}src/cli.ts`;

// biome-ignore lint/suspicious/noExplicitAny: events are parsed JSON checked by the schema
export type Ev = Record<string, any>;

export interface Daemon {
  child: ChildProcess;
  lines: string[];
  events: Ev[];
  stderr(): string;
  waitFor(what: string, pred: (e: Ev) => boolean, timeoutMs?: number): Promise<Ev>;
  /** SIGTERM, then the exit code once it has exited. */
  stop(): Promise<number | null>;
}

/**
 * The real CLI as a child process (node + tsx, or another runtime), its stdout parsed line by line.
 * `script: false` runs `runtime` itself as the program (the single binary).
 */
export function startDaemon(
  args: string[],
  opts: { runtime?: string[]; env?: NodeJS.ProcessEnv; script?: string | false } = {},
): Daemon {
  const runtime = opts.runtime ?? [process.execPath, "--import", "tsx"];
  const [cmd, ...pre] = runtime as [string, ...string[]];
  const script = opts.script === false ? [] : [opts.script ?? CLI];
  const child = spawn(cmd, [...pre, ...script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const events: Ev[] = [];
  let err = "";
  let partial = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    partial += chunk;
    let nl = partial.indexOf("\n");
    while (nl >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      try {
        events.push(JSON.parse(line));
      } catch {
        // text format: kept in lines only
      }
      nl = partial.indexOf("\n");
    }
  });
  child.stderr?.on("data", (d) => {
    err += d;
  });
  // "close", not "exit": the process may exit before its last lines are read from the pipe, and a
  // test that counts records after stop() must see every line it wrote.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    lines,
    events,
    stderr: () => err,
    waitFor: (what, pred, timeoutMs = 15_000) =>
      waitFor(`${what}; stderr so far: ${err}`, () => events.find(pred), timeoutMs),
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/**
 * The daemon's own counters worth quoting when a count a test makes comes out short: what it wrote,
 * what it held or dropped, what its flood gate did, and what its source saw, lost, repaired or could
 * not place. `stats` is a monitor record's `ssh_outbound.monitor.stats`, or a stats line's key=value
 * pairs (then the keys are matched as written there).
 */
export function tellingStats(stats: Record<string, number> | string[]): string {
  const telling =
    /^(opened|closed|failed|unresolved|pipeline_errors|records_|flood_|source_(kernel_events|kernel_skipped|orphans|repaired|recovered|dropped|lost|while_down|tracked|errors))/;
  if (Array.isArray(stats)) return stats.filter((kv) => telling.test(kv)).join(" ");
  return JSON.stringify(Object.fromEntries(Object.entries(stats).filter(([k]) => telling.test(k))));
}

/**
 * The records to one destination port counted by how each reads (action, user, process name,
 * attribution, how it was observed): where a count comes out short, a missing record may be there under
 * another name or attribution.
 */
export function kindsAtPort(events: Ev[], port: number): [string, number][] {
  const kinds = new Map<string, number>();
  for (const e of toPort(events, port)) {
    const o = e.ssh_outbound;
    const k = `${e.event?.action} ${e.user?.name ?? "-"} ${e.process?.name ?? "-"} ${o?.attribution ?? "-"} ${o?.observed ?? "-"}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  return [...kinds];
}

/**
 * For a failure message: each connection at `port` that names no process (at most `max`), told by every
 * record of its source port in order: a connection two daemons told apart (ended while down by one,
 * found already open by the next) reads as two ids on one port.
 */
export function namelessAtPort(events: Ev[], port: number, max = 3): string[] {
  const at = toPort(events, port);
  const ports = [...new Set(at.filter((e) => !e.process?.name).map((e) => e.source?.port))].slice(0, max);
  return ports.map((sport) =>
    at
      .filter((e) => e.source?.port === sport)
      .map((e) => {
        const o = e.ssh_outbound ?? {};
        return `${e["@timestamp"]} ${e.event?.action} ${String(o.connection_id).slice(-8)} ${o.observed} ${o.attribution} ${e.process?.name ?? "-"}${o.end_window ? ` ended between ${o.end_window.after} and ${o.end_window.before}` : ""}`;
      })
      .join(" / "),
  );
}

/** Events of the connections to one destination port (tests share the host with each other). */
export function toPort(events: Ev[], port: number): Ev[] {
  return events.filter((e) => e.destination?.port === port);
}

/** The complete JSON lines of an event file so far (a line still being written is not included). */
export function readEventFile(path: string): Ev[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const end = text.lastIndexOf("\n");
  if (end < 0) return [];
  return text
    .slice(0, end)
    .split("\n")
    .map((l) => JSON.parse(l) as Ev);
}

/** The CLI run to completion: exit code, stdout, stderr. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * For tests of the trail's integrity under load (faults, bursts): every connection is to be written
 * one by one, so the per-user flood limit (--user-rate, see src/track/flood.ts) is turned off. The limit
 * itself is tested in hostile.flood.
 */
export const NO_RATE_LIMIT = ["--user-rate", "0"];
