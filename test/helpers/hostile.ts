import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT } from "./ci.ts";
import { type Daemon, type Ev, startDaemon } from "./daemon.ts";
import { runClient } from "./ssh.ts";
import { SSHD, type TestSshd } from "./sshd.ts";
import { waitFor } from "./wait.ts";

/**
 * Attacks as an unprivileged local user would make them: a few lines of Python run as `nobody`
 * (setpriv), timed by their own CPU; the daemon's CPU over the same time read from /proc. Each hostile
 * test checks what the issue asks of every attack: a normal ssh session made meanwhile is in the
 * trail within 1 s of its end, fully attributed; every attempt is a record or counted in one; the
 * daemon's CPU is reported next to the attacker's.
 */

/** Debian's interpreter, not a user's (root's pyenv shims are not nobody's to run). */
export const PYTHON = "/usr/bin/python3";

export const HOSTILE_READY =
  IS_ROOT && Boolean(SSHD) && hasCommand("ssh") && hasCommand("setpriv") && existsSync(PYTHON);
export const HOSTILE_WHY =
  "root, sshd, ssh, setpriv and python3 are needed (apt-get install openssh-server python3)";

/** The sources an attack is run against: procfs always, eBPF where the probe runs (CI: required). */
export function sources(): ("procfs" | "ebpf")[] {
  return checkEbpf().ok ? ["procfs", "ebpf"] : ["procfs"];
}
export const EBPF_OK = (): boolean => checkEbpf().ok;

export interface AttackResult {
  code: number | null;
  /** What the script printed last: a JSON object with its own counts. */
  report: Record<string, number>;
  /** The attacker's CPU (user + system, children included), in seconds, as it measured itself. */
  cpuS: number;
  stderr: string;
}

/**
 * Runs `script` with `args` as nobody. The script ends by printing one JSON line of its counts; the
 * harness adds its CPU (os.times, children included). Resolves when it has exited.
 */
export function asNobody(
  script: string,
  args: string[] = [],
  interpreter = PYTHON,
): { pid: number; done: Promise<AttackResult>; exited(): boolean } {
  const wrapped = `${script}
import json as _json, os as _os, sys as _sys
_t = _os.times()
_out = dict(REPORT)
_out["cpu"] = _t.user + _t.system + _t.children_user + _t.children_system
print(_json.dumps(_out))
`;
  const child = spawn(
    "setpriv",
    ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", interpreter, "-c", wrapped, ...args],
    { stdio: ["ignore", "pipe", "pipe"], cwd: "/tmp" },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  // "close": after the pipes are drained (the report is the last line of stdout).
  const done = new Promise<AttackResult>((resolve) =>
    child.on("close", (code) => {
      const last = out.trim().split("\n").at(-1) ?? "{}";
      let report: Record<string, number> = {};
      try {
        report = JSON.parse(last);
      } catch {
        // the script failed before its report: the code and stderr say why
      }
      resolve({ code, report, cpuS: report.cpu ?? Number.NaN, stderr: err });
    }),
  );
  return {
    pid: child.pid as number,
    done,
    exited: () => child.exitCode !== null || child.signalCode !== null,
  };
}

/** A process's CPU so far (utime + stime), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** A process's resident memory now, in MB. */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return Number(m?.[1] ?? 0) / 1024;
}

/**
 * A normal session (`ssh … true` by root) while the attack runs: how long after the client exited
 * its connection-closed record was in the trail, and the record.
 */
export async function normalSession(
  d: Daemon,
  sshd: TestSshd,
  tag: string,
): Promise<{ delayMs: number; ev: Ev }> {
  const run = await runClient([...sshd.sshArgs, "echo", tag]);
  const exitedAt = Date.now();
  if (run.code !== 0) throw new Error(`the normal session failed: ${run.stderr}`);
  const ev = await waitFor(
    `the normal session's close (${tag}); stderr: ${d.stderr()}`,
    () => d.events.find((e) => e.event?.action === "connection-closed" && e.process?.pid === run.pid),
    15_000,
  );
  return { delayMs: Date.now() - exitedAt, ev };
}

/** What a hostile test says of the cost, in the test's output. */
export function costLine(what: string, daemonS: number, attackerS: number): string {
  const ratio = attackerS > 0 ? daemonS / attackerS : Number.POSITIVE_INFINITY;
  return `${what}: daemon CPU ${daemonS.toFixed(2)} s for the attacker's ${attackerS.toFixed(2)} s (${ratio.toFixed(2)}×)`;
}

/**
 * A daemon with its default options but for the source and the ports (JSON, no stats lines), once it
 * has written monitor-started; stopped again if it does not get that far.
 */
export async function watching(
  source: "procfs" | "ebpf",
  ports: string,
): Promise<Daemon & { pid: number; started: Ev }> {
  const d = startDaemon([
    "run",
    "--source",
    source,
    "--format",
    "json",
    "--ports",
    ports,
    "--stats-interval",
    "0",
  ]);
  try {
    const started = await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started", 30_000);
    return Object.assign(d, { pid: d.child.pid as number, started });
  } catch (error) {
    await d.stop();
    throw error;
  }
}
