import { existsSync } from "node:fs";
import { isatty } from "node:tty";
import { InvalidOptionError } from "./errors.ts";
import type { NetnsScope, ProtocolMode } from "./sources/types.ts";

export type Format = "json" | "text";
export type SourceChoice = "auto" | "procfs" | "ebpf";
export type { NetnsScope, ProtocolMode };

export interface Config {
  intervalMs: number;
  ports: number[];
  clients: string[];
  format: Format;
  /** A file path, or undefined for stdout. */
  output: string | undefined;
  source: SourceChoice;
  pidFile: string | undefined;
  statsIntervalS: number;
  /** Where open connections are kept across restarts; undefined: no continuity. */
  stateFile: string | undefined;
  /** Records held in memory while the output fails. */
  maxPending: number;
  /** Connections a second each user may make before they are counted in summaries; 0: no limit. */
  userRate: number;
  /**
   * The bpffs directory where the eBPF probe stays pinned between runs (the kernel keeps capturing
   * while the daemon is down); undefined: the probe goes with the daemon.
   */
  pin: string | undefined;
  /** A Prometheus text file of the daemon's health, rewritten every 10 s; `auto` resolved at start. */
  metricsFile: string | undefined;
  netns: NetnsScope;
  /**
   * eBPF: SSH recognised by its first bytes on any port and from any program, besides the filters:
   * `on` through TCP's tracepoints where the kernel has them (else the packet hooks), `packets` through
   * cgroup_skb hooks that see the bytes as sent and run for every IP packet, `off` not at all.
   */
  protocol: ProtocolMode;
}

/** Raw option values as commander hands them over: strings, or undefined when not given. */
export interface RawOptions {
  interval?: string | undefined;
  ports?: string | undefined;
  clients?: string | undefined;
  format?: string | undefined;
  output?: string | undefined;
  source?: string | undefined;
  pidFile?: string | undefined;
  statsInterval?: string | undefined;
  stateFile?: string | undefined;
  maxPending?: string | undefined;
  userRate?: string | undefined;
  pin?: string | undefined;
  metricsFile?: string | undefined;
  netns?: string | undefined;
  protocol?: string | undefined;
}

export const DEFAULTS = {
  intervalMs: 50,
  ports: [22],
  clients: ["ssh", "scp", "sftp", "sshfs", "autossh", "dbclient"],
  source: "auto" as SourceChoice,
  statsIntervalS: 300,
  maxPending: 10_000,
  userRate: 20,
  pin: "/sys/fs/bpf/ssh-outbound-logger",
  netns: "all" as NetnsScope,
  protocol: "on" as ProtocolMode,
};

/** The filters' bounds: the probe's maps have this many entries (native/probe.h), whatever the run. */
export const PORTS_MAX = 1024;
export const CLIENTS_MAX = 256;

/**
 * Environment variables, one per option. SLEEP is the predecessor's name for the interval and is kept
 * so existing unit files and wrappers keep working; the prefixed name wins when both are set.
 */
export const ENV = {
  interval: ["SSH_OUTBOUND_INTERVAL", "SLEEP"],
  ports: ["SSH_OUTBOUND_PORTS"],
  clients: ["SSH_OUTBOUND_CLIENTS"],
  format: ["SSH_OUTBOUND_FORMAT"],
  output: ["SSH_OUTBOUND_OUTPUT"],
  source: ["SSH_OUTBOUND_SOURCE"],
  pidFile: ["SSH_OUTBOUND_PID_FILE"],
  statsInterval: ["SSH_OUTBOUND_STATS_INTERVAL"],
  stateFile: ["SSH_OUTBOUND_STATE_FILE"],
  maxPending: ["SSH_OUTBOUND_MAX_PENDING"],
  userRate: ["SSH_OUTBOUND_USER_RATE"],
  pin: ["SSH_OUTBOUND_PIN"],
  metricsFile: ["SSH_OUTBOUND_METRICS_FILE"],
  netns: ["SSH_OUTBOUND_NETNS"],
  protocol: ["SSH_OUTBOUND_PROTOCOL"],
} as const satisfies Record<keyof RawOptions, readonly string[]>;

const FLAG: Record<keyof RawOptions, string> = {
  interval: "--interval",
  ports: "--ports",
  clients: "--clients",
  format: "--format",
  output: "--output",
  source: "--source",
  pidFile: "--pid-file",
  statsInterval: "--stats-interval",
  stateFile: "--state-file",
  maxPending: "--max-pending",
  userRate: "--user-rate",
  pin: "--pin",
  metricsFile: "--metrics-file",
  netns: "--netns",
  protocol: "--protocol",
};

interface Picked {
  value: string;
  /** How the user named it, for error messages: the flag, or the environment variable. */
  name: string;
}

function pick(key: keyof RawOptions, flags: RawOptions, env: NodeJS.ProcessEnv): Picked | undefined {
  const flag = flags[key];
  if (flag !== undefined) return { value: flag, name: FLAG[key] };
  for (const name of ENV[key]) {
    const value = env[name];
    if (value !== undefined && value !== "") return { value, name };
  }
  return undefined;
}

function integerIn(p: Picked, min: number, max: number, unit: string): number {
  const text = p.value.trim();
  if (!/^\d+$/.test(text)) {
    throw new InvalidOptionError(p.name, p.value, `a whole number of ${unit} from ${min} to ${max}`);
  }
  const n = Number(text);
  if (n < min || n > max) {
    throw new InvalidOptionError(p.name, p.value, `a whole number of ${unit} from ${min} to ${max}`);
  }
  return n;
}

export function validateInterval(p: Picked): number {
  return integerIn(p, 1, 3_600_000, "milliseconds");
}

export function validateStatsInterval(p: Picked): number {
  return integerIn(p, 0, 86_400, "seconds (0 turns stats off)");
}

export function validateMaxPending(p: Picked): number {
  return integerIn(p, 1, 10_000_000, "records");
}

export function validateUserRate(p: Picked): number {
  return integerIn(p, 0, 1_000_000, "connections a second (0 turns the limit off)");
}

export function validatePorts(p: Picked): number[] {
  const parts = p.value.split(",").map((s) => s.trim());
  const ports: number[] = [];
  for (const part of parts) {
    if (!/^\d+$/.test(part) || Number(part) < 1 || Number(part) > 65535) {
      throw new InvalidOptionError(p.name, p.value, "a comma-separated list of TCP ports from 1 to 65535");
    }
    if (!ports.includes(Number(part))) ports.push(Number(part));
  }
  if (ports.length > PORTS_MAX) {
    throw new InvalidOptionError(p.name, p.value, `at most ${PORTS_MAX} TCP ports`);
  }
  return ports;
}

export function validateClients(p: Picked): string[] {
  const names = p.value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  // The kernel keeps 15 bytes of a task name (TASK_COMM_LEN 16); a longer name could never match.
  const bad = names.find((n) => Buffer.byteLength(n) > 15 || /[\s/"\\]/.test(n));
  if (bad !== undefined || names.length === 0 || new Set(names).size > CLIENTS_MAX) {
    throw new InvalidOptionError(
      p.name,
      p.value,
      `a comma-separated list of at most ${CLIENTS_MAX} process names, each 1 to 15 bytes without spaces, slashes, quotes or backslashes`,
    );
  }
  return [...new Set(names)];
}

function oneOf<T extends string>(p: Picked, allowed: readonly T[]): T {
  const v = p.value.trim();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new InvalidOptionError(p.name, p.value, `one of ${allowed.join(", ")}`);
  }
  return v as T;
}

export function validateFormat(p: Picked): Format {
  return oneOf(p, ["json", "text"] as const);
}

export function validateSource(p: Picked): SourceChoice {
  return oneOf(p, ["auto", "procfs", "ebpf"] as const);
}

export function validateNetns(p: Picked): NetnsScope {
  return oneOf(p, ["all", "own"] as const);
}

export function validateProtocol(p: Picked): ProtocolMode {
  return oneOf(p, ["on", "packets", "off"] as const);
}

export function validatePath(p: Picked): string {
  if (p.value.trim() === "" || p.value.includes("\0")) {
    throw new InvalidOptionError(p.name, p.value, "a file path");
  }
  return p.value;
}

/**
 * Where the probe is pinned: an absolute path of a directory on a bpffs (its parent must be one, or be
 * /sys/fs/bpf, mounted when absent), or `none` to keep nothing in the kernel after the daemon.
 */
export function validatePin(p: Picked): string | undefined {
  const v = p.value.trim();
  if (v === "none") return undefined;
  const parts = v.split("/");
  if (
    !v.startsWith("/") ||
    v.length > 200 ||
    v.includes("\0") ||
    parts.length < 3 ||
    parts.slice(1).some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new InvalidOptionError(
      p.name,
      p.value,
      "an absolute directory path on a bpffs (e.g. /sys/fs/bpf/ssh-outbound-logger), or none",
    );
  }
  return v;
}

/** node_exporter's textfile directory as Debian's prometheus-node-exporter package has it. */
export const NODE_EXPORTER_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";

/**
 * The metrics file: a path, `none`, or `auto` (node_exporter's Debian textfile directory when it
 * exists, else none: what the shipped unit sets).
 */
export function validateMetricsFile(p: Picked, dirExists: (dir: string) => boolean): string | undefined {
  const v = p.value.trim();
  if (v === "none") return undefined;
  if (v === "auto") {
    return dirExists(NODE_EXPORTER_TEXTFILE_DIR)
      ? `${NODE_EXPORTER_TEXTFILE_DIR}/ssh-outbound-logger.prom`
      : undefined;
  }
  if (!v.endsWith(".prom") || v.includes("\0")) {
    throw new InvalidOptionError(
      p.name,
      p.value,
      "a file path ending in .prom (node_exporter's textfile collector reads only those), auto or none",
    );
  }
  return v;
}

/**
 * Options from flags, then environment, then defaults, each validated in its own function so a bad
 * value is reported with the name the user gave it (flag or variable), what was expected and what came.
 */
export function resolveConfig(
  flags: RawOptions,
  env: NodeJS.ProcessEnv = process.env,
  // Not process.stdout.isTTY: making that stream sets descriptor 1 non-blocking when it is a pipe, and
  // the sink's synchronous writes then sleep 100 ms (sonic-boom's retry) whenever the reader is a
  // page behind, with the whole daemon stopped meanwhile, instead of waiting only as long as it is.
  stdoutIsTTY = isatty(1),
): Config {
  const get = <T>(key: keyof RawOptions, validate: (p: Picked) => T, fallback: T): T => {
    const p = pick(key, flags, env);
    return p === undefined ? fallback : validate(p);
  };
  let output = get("output", validatePath, undefined as string | undefined);
  if (output === "-") output = undefined;
  return {
    intervalMs: get("interval", validateInterval, DEFAULTS.intervalMs),
    ports: get("ports", validatePorts, DEFAULTS.ports),
    clients: get("clients", validateClients, DEFAULTS.clients),
    // Text for a person at a terminal, JSON lines for everything that a program reads.
    format: get("format", validateFormat, stdoutIsTTY && output === undefined ? "text" : "json"),
    output,
    source: get("source", validateSource, DEFAULTS.source),
    pidFile: get("pidFile", validatePath, undefined as string | undefined),
    statsIntervalS: get("statsInterval", validateStatsInterval, DEFAULTS.statsIntervalS),
    stateFile: get("stateFile", validatePath, undefined as string | undefined),
    maxPending: get("maxPending", validateMaxPending, DEFAULTS.maxPending),
    userRate: get("userRate", validateUserRate, DEFAULTS.userRate),
    pin: get("pin", validatePin, DEFAULTS.pin as string | undefined),
    metricsFile: get(
      "metricsFile",
      (p) => validateMetricsFile(p, (d) => existsSync(d)),
      undefined as string | undefined,
    ),
    netns: get("netns", validateNetns, DEFAULTS.netns),
    protocol: get("protocol", validateProtocol, DEFAULTS.protocol),
  };
}

/**
 * The flood policy that --user-rate sets (src/track/flood.ts applies it; the eBPF source counts failed
 * connects in the kernel by the same rate and burst).
 */
export interface FloodPolicy {
  /** Connections a second each user may make, sustained, before aggregation; 0 turns the gate off. */
  rate: number;
  /** Connections a user may make at once before the rate applies. */
  burst: number;
  /** How long a held connection must stay open to be let through as a session. */
  holdMs: number;
  /** How often a user's summary is written while the flood goes on. */
  windowMs: number;
  /** Connections held at once (all users); past it a new one beyond its user's rate is counted at once. */
  maxHeld: number;
}

export const FLOOD_DEFAULTS: FloodPolicy = {
  rate: 20,
  burst: 100,
  holdMs: 2000,
  windowMs: 10_000,
  maxHeld: 20_000,
};

/** The policy for a rate (--user-rate): a burst of five seconds' worth, at least the default burst. */
export function floodPolicy(rate: number): FloodPolicy {
  return { ...FLOOD_DEFAULTS, rate, burst: Math.max(FLOOD_DEFAULTS.burst, rate * 5) };
}
