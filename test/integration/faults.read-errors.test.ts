import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, NO_RATE_LIMIT, startDaemon } from "../helpers/daemon.ts";
import {
  type Conn,
  checkTrail,
  oneConnection,
  plainListener,
  readTrail,
  stoppedStats,
  waitStarted,
} from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { waitFor } from "../helpers/wait.ts";

// Faults in what the procfs source reads: EMFILE (the daemon's descriptor limit lowered under it for
// real), EIO and EISDIR (files of /proc that answer so), and a netlink reply cut by the kernel. In each
// case the daemon stays up, counts the errors, and invents no close: connections held across the fault
// have one opened and one closed record.

interface Run {
  d: Daemon;
  log: string;
  port: number;
  close(): Promise<void>;
}

async function run(name: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const dir = scratchDir(`sol-${name}-`);
  const log = join(dir, "log.log");
  const listener = await plainListener();
  const d = startDaemon(
    ["run", "--source", "procfs", "--ports", String(listener.port), "-o", log, ...NO_RATE_LIMIT],
    { env },
  );
  await waitStarted(log);
  return {
    d,
    log,
    port: listener.port,
    close: async () => {
      await d.stop();
      await listener.close();
    },
  };
}

/**
 * Connections held across `fault`, and a few made during it (or, when nothing can be seen during it,
 * right after); then the trail must hold each exactly once.
 */
async function across(
  r: Run,
  fault: () => Promise<void>,
  blind = false,
): Promise<{ conns: Conn[]; stats: Record<string, number> }> {
  const long = [oneConnection(r.port, 4000), oneConnection(r.port, 4000)];
  await waitFor(
    "the long ones opened",
    () => readTrail([r.log]).events.filter((e) => e.event.action === "connection-opened").length >= 2,
    10_000,
  );
  const during = fault();
  if (blind) await during;
  const short: Promise<Conn>[] = [];
  for (let i = 0; i < 6; i++) {
    short.push(oneConnection(r.port, 300));
    await new Promise((res) => setTimeout(res, 100));
  }
  await during;
  const conns = await Promise.all([...long, ...short]);
  await waitFor(
    "every connection in the trail",
    () => checkTrail(readTrail([r.log]).events, r.port, conns).missing.length === 0,
    15_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; stderr: ${r.d.stderr()}`);
  });
  assert.equal(await r.d.stop(), 0, "the daemon was still running");
  const { events, bad } = readTrail([r.log]);
  assert.deepEqual(bad, []);
  const c = checkTrail(events, r.port, conns);
  assert.deepEqual(c.duplicated, [], "a close invented, then the connection opened again");
  assert.deepEqual(c.missing, []);
  return { conns, stats: stoppedStats(events) };
}

// While no file can be opened, /proc cannot be read at all: a connection made and gone in that time is
// not seen (the eBPF source sees it); what matters here is that the open ones are not taken as closed.
test("EMFILE: the descriptor limit lowered under the running daemon", async (t) => {
  if (!needs(t, IS_ROOT, "needs root to see every process's sockets")) return;
  if (!needs(t, hasCommand("prlimit"), "needs prlimit (util-linux)")) return;
  const r = await run("emfile");
  try {
    const pid = String(r.d.child.pid);
    const { stats } = await across(
      r,
      async () => {
        const before = execFileSync("prlimit", [
          "--pid",
          pid,
          "--nofile",
          "--raw",
          "--noheadings",
          "-o",
          "SOFT,HARD",
        ])
          .toString()
          .trim()
          .split(/\s+/);
        // The lowest free descriptor number: with the limit there, every new descriptor is EMFILE. Only
        // the soft limit: raising a hard limit again needs CAP_SYS_RESOURCE, which a container may lack.
        // A descriptor the daemon held for a moment when we looked (a file being read) leaves a lower
        // one free once closed, and every later open takes it: the limit is set again until it bites.
        const lower = () => {
          const fds = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
          let open = 0;
          while (fds.has(open)) open++;
          execFileSync("prlimit", ["--pid", pid, `--nofile=${open}:${before[1]}`]);
        };
        lower();
        let lowered = Date.now();
        await waitFor(
          "the errors",
          () => {
            if (/EMFILE/.test(r.d.stderr())) return true;
            if (Date.now() - lowered > 1000) {
              lower();
              lowered = Date.now();
            }
            return false;
          },
          10_000,
        );
        await new Promise((res) => setTimeout(res, 1000));
        execFileSync("prlimit", ["--pid", pid, `--nofile=${before[0]}:${before[1]}`]);
      },
      true,
    );
    t.diagnostic(`source_errors ${stats.source_errors}, failed ticks ${stats.source_failed_ticks}`);
    assert.ok((stats.source_errors as number) > 0, "counted");
    assert.ok(
      (stats.source_failed_ticks as number) > 0,
      "the ticks that could not read the tables emitted nothing",
    );
  } finally {
    await r.close();
  }
});

test("EIO and EISDIR from files of /proc: counted per process, the rest of the tick goes on", async (t) => {
  if (!needs(t, IS_ROOT, "needs root to see every process's sockets")) return;
  // A /proc whose processes are two odd ones: one whose comm is a directory (EISDIR), one whose comm
  // reads /proc/self/mem at offset 0, which the kernel answers with EIO. Both in our namespace.
  const root = scratchDir("sol-proc-");
  symlinkSync("/proc/self", join(root, "self"));
  symlinkSync("/proc/stat", join(root, "stat"));
  for (const pid of ["99990001", "99990002"]) {
    mkdirSync(join(root, pid, "ns"), { recursive: true });
    symlinkSync("/proc/self/ns/net", join(root, pid, "ns", "net"));
  }
  mkdirSync(join(root, "99990001", "comm"));
  symlinkSync("/proc/self/mem", join(root, "99990002", "comm"));
  const r = await run("eio", { SSH_OUTBOUND_PROC_ROOT: root });
  try {
    const { stats } = await across(r, () => new Promise((res) => setTimeout(res, 500)));
    t.diagnostic(`pid_read_faults ${stats.source_pid_read_faults}, errors ${stats.source_errors}`);
    assert.ok((stats.source_pid_read_faults as number) >= 2, "EIO and EISDIR counted");
    assert.equal(stats.source_failed_ticks, 0, "one odd process does not fail the tick");
  } finally {
    await r.close();
  }
});

test("a netlink reply cut by the kernel (MSG_TRUNC): that tick reads /proc/net/tcp, nothing invented", async (t) => {
  if (!needs(t, IS_ROOT, "needs root to see every process's sockets")) return;
  // Each socket takes about 124 bytes of reply: a 400-byte receive is cut once more than 3 match.
  const r = await run("cut", { SSH_OUTBOUND_FAULT_NETLINK_RECV: "400" });
  try {
    const { stats } = await across(r, () => new Promise((res) => setTimeout(res, 800)));
    t.diagnostic(`netlink_errors ${stats.source_netlink_errors}, dumps ${stats.source_netlink_dumps}`);
    assert.ok((stats.source_netlink_errors as number) > 0, "cut replies counted");
    assert.match(r.d.stderr(), /ETRUNC/);
  } finally {
    await r.close();
  }
});
