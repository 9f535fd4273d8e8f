import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./daemon.ts";
import { collected, fleetConfigs } from "./fleet.ts";
import { type Rsyslogd, startRsyslogd } from "./rsyslogd.ts";
import { logrotateConfig, trailLines } from "./shipped.ts";
import { freePort, listening } from "./sshd.ts";
import { waitFor } from "./wait.ts";

/**
 * A fleet for long runs: hosts whose trails are written by test/helpers/trail-writer.ts (the daemon's
 * formatter and file sink, no capture), one sender and one collector with the shipped configs. For
 * the long collector outage test and the soak (bench/fleet-soak.ts).
 */
export interface WriterHost {
  name: string;
  id: string;
  dir: string;
  writer?: ChildProcess;
  /** What the running writer printed (its count, at its end). */
  out?: string;
  /** Records written by the writers that have stopped. */
  written: number;
}

export interface WriterFleet {
  root: string;
  inbox: string;
  port: number;
  hosts: WriterHost[];
  collector: Rsyslogd;
  sender: Rsyslogd;
  collectorConf: string;
  senderConf: string;
}

export async function startCollector(root: string, conf: string, port: number): Promise<Rsyslogd> {
  const c = startRsyslogd(root, "collector", conf);
  await waitFor(
    `the collector listening on ${port}; ${c.stderr()}`,
    () => listening(port, c.child.pid),
    10_000,
  );
  return c;
}

/** Hosts named `names` (machine ids 1111…, 2222…), a collector and a sender; no writer running yet. */
export async function startWriterFleet(root: string, names: readonly string[]): Promise<WriterFleet> {
  const inbox = join(root, "srv-ssh-audit");
  execFileSync("install", ["-d", "-m", "0750", inbox]);
  execFileSync("install", ["-d", join(root, "collector-work"), join(root, "sender-work")]);
  const hosts = names.map((name, i) => {
    const dir = join(root, name);
    execFileSync("install", ["-d", "-m", "0755", dir]);
    return { name, id: String(i + 1).repeat(32), dir, written: 0 };
  });
  const port = await freePort();
  const conf = fleetConfigs(
    root,
    inbox,
    port,
    hosts.map((h) => h.dir),
    writeFileSync,
  );
  const collector = await startCollector(root, conf.collector, port);
  const sender = startRsyslogd(root, "sender", conf.sender);
  return {
    root,
    inbox,
    port,
    hosts,
    collector,
    sender,
    collectorConf: conf.collector,
    senderConf: conf.sender,
  };
}

/** The host's writer started: RATE records a second (0: at once), COUNT of them or until stopped. */
export function startWriter(h: WriterHost, rate: number, count?: number): void {
  assert.equal(h.writer, undefined, `${h.name} has no writer running`);
  const args = [join(h.dir, "log.log"), join(h.dir, "writer.pid"), h.name, h.id, String(rate)];
  if (count !== undefined) args.push(String(count));
  h.writer = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "test/helpers/trail-writer.ts"), ...args],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  h.out = "";
  h.writer.stdout?.on("data", (d) => {
    h.out += d;
  });
}

/** The host's writer stopped (SIGTERM unless it is done); the records it wrote are added to `written`. */
export async function stopWriter(h: WriterHost, wait = false): Promise<number> {
  const w = h.writer;
  assert.ok(w, `${h.name} has a writer`);
  // "close": the exit and every byte of its output.
  const code = await new Promise<number | null>((resolve) => {
    if (w.exitCode !== null && w.stdout?.closed !== false) resolve(w.exitCode);
    else w.once("close", (c) => resolve(c));
    if (!wait) w.kill("SIGTERM");
  });
  assert.equal(code, 0, `${h.name}'s writer exited with ${code}`);
  h.writer = undefined;
  const n = Number(h.out?.trim());
  h.written += n;
  return n;
}

/**
 * The host's log rotated by the shipped logrotate config (dateext names to the second: a rotation
 * waits for the next second), the writer told by SIGHUP through its pid file as the daemon is.
 */
export async function rotateHost(f: WriterFleet, h: WriterHost): Promise<void> {
  const conf = join(f.root, `logrotate-${h.name}.conf`);
  writeFileSync(conf, logrotateConfig(join(h.dir, "log.log"), join(h.dir, "writer.pid")));
  const next = Math.floor(Date.now() / 1000 + 1) * 1000;
  await waitFor("the next second", () => Date.now() >= next, 3_000);
  const before = readdirSync(h.dir).filter((n) => n.startsWith("log.log-")).length;
  execFileSync("logrotate", ["-f", "-s", join(f.root, `logrotate-${h.name}.state`), conf]);
  assert.equal(readdirSync(h.dir).filter((n) => n.startsWith("log.log-")).length, before + 1, "rotated");
}

export const hostDir = (h: WriterHost) => `${h.name}-${h.id}`;

/** The lines of each host's trail (rotated and gzipped files included) not at the collector. */
export function missingAtCollector(f: WriterFleet): number {
  const at = collected(f.inbox);
  let n = 0;
  for (const h of f.hosts) {
    const there = new Set(at.get(hostDir(h)) ?? []);
    n += trailLines(h.dir).filter((l) => !there.has(l.line)).length;
  }
  return n;
}

/** Every host's latest record at the collector (then what is missing is lost, not on its way). */
export async function latestArrived(f: WriterFleet, timeoutMs: number): Promise<void> {
  await waitFor(
    "every host's latest record at the collector",
    () => {
      const at = collected(f.inbox);
      return f.hosts.every((h) => {
        const last = trailLines(h.dir, undefined, { writing: true }).at(-1)?.line;
        return last !== undefined && (at.get(hostDir(h)) ?? []).includes(last);
      });
    },
    timeoutMs,
  );
}
