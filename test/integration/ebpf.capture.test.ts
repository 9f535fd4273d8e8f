import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { ourPrograms } from "../helpers/bpffs.ts";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Daemon, NO_RATE_LIMIT, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { assertSshClient, session } from "../helpers/session.ts";
import { runClient } from "../helpers/ssh.ts";
import { freePort, SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

const check = SSHD ? checkEbpf() : { ok: false, reason: "sshd not installed" };
let sshd: TestSshd | undefined;
let daemon: Daemon | undefined;
let closedPort = 0;

before(async () => {
  if (!check.ok) return;
  sshd = await startSshd();
  closedPort = await freePort();
  daemon = startDaemon([
    "run",
    "--source",
    "ebpf",
    "--format",
    "json",
    "--ports",
    `${sshd.port},${closedPort}`,
    "--stats-interval",
    "0",
    // 200 connects in a second: every one is to be written (the flood limit is hostile.flood's).
    ...NO_RATE_LIMIT,
  ]);
  await daemon.waitFor("monitor-started", (e) => e.event?.action === "monitor-started", 30_000);
});

after(async () => {
  if (daemon) assert.equal(await daemon.stop(), 0, daemon.stderr());
  sshd?.stop();
});

/**
 * A raw TCP connect from this process, closed `holdMs` after it is up; resolves with our local port.
 * With `reset`, it ends with an RST (as a port scanner does), so its CLOSE does not wait for the server's
 * FIN, which 200 freshly forked sshd children on two cores may take many seconds to send.
 */
function rawConnect(port: number, holdMs = 0, reset = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: "127.0.0.1", port }, () => {
      const local = s.localPort as number;
      setTimeout(() => (reset ? s.resetAndDestroy() : s.destroy()), holdMs);
      s.once("close", () => resolve(local));
    });
    s.on("error", reject);
  });
}

const bySrcPort = (d: Daemon, port: number) => d.events.filter((e) => e.source?.port === port);

test("a raw connect lasting about 1 ms is logged, opened and closed, with this process as its owner", async (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  const d = daemon as Daemon;
  const local = await rawConnect((sshd as TestSshd).port, 1);
  await d.waitFor("the close", (e) => e.source?.port === local && e.event.action === "connection-closed");
  const mine = bySrcPort(d, local);
  assert.deepEqual(
    mine.map((e) => e.event.action),
    ["connection-opened", "connection-closed"],
  );
  assert.equal(mine[0]?.ssh_outbound.connection_id, mine[1]?.ssh_outbound.connection_id);
  assert.equal(mine[0]?.process.pid, process.pid);
  assert.equal(mine[0]?.ssh_outbound.source, "ebpf");
  assert.ok((mine[1]?.event.duration as number) < 1e9);
});

test("ssh true is logged with user, ancestry and typed target", async (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  const s = sshd as TestSshd;
  const d = daemon as Daemon;
  const run = await runClient([...s.sshArgs, "true"]);
  assert.equal(run.code, 0, run.stderr);
  const [o, closed] = await session(d, "ssh true", (e) => e.process?.pid === run.pid);
  for (const e of [o, closed]) assertSshClient(e, s, run.pid, "true");
  assert.equal(o.ssh_outbound.tid, run.pid);
  assert.ok(closed.source.bytes > 0 && closed.destination.bytes > 0);
});

test("a connect to a closed port is logged as connection-failed", async (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  const d = daemon as Daemon;
  await assert.rejects(rawConnect(closedPort), /ECONNREFUSED/);
  const failed = await d.waitFor(
    "connection-failed",
    (e) => e.destination?.port === closedPort && e.event.action === "connection-failed",
  );
  assert.equal(failed.event.outcome, "failure");
  assert.equal(failed.process.pid, process.pid);
  assert.equal(failed.ssh_outbound.state, "SYN_SENT");
  assert.equal(
    d.events.filter((e) => e.destination?.port === closedPort && e.event.action === "connection-opened")
      .length,
    0,
  );
});

test("the close of a 2,000,000-byte download reports at least that many bytes received", async (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  const s = sshd as TestSshd;
  const d = daemon as Daemon;
  const run = await runClient([...s.sshArgs, "head -c 2000000 /dev/zero"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.length, 2_000_000);
  const closed = await d.waitFor(
    "close",
    (e) => e.process?.pid === run.pid && e.event.action === "connection-closed",
  );
  assert.ok(closed.destination.bytes >= 2_000_000, String(closed.destination.bytes));
  assert.equal(closed.network.bytes, closed.source.bytes + closed.destination.bytes);
});

test("200 connections opened in parallel within about a second are each logged exactly once", async (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  const d = daemon as Daemon;
  const port = (sshd as TestSshd).port;
  const locals = await Promise.all(
    Array.from({ length: 200 }, (_, i) => rawConnect(port, 5 + (i % 20), true)),
  );
  assert.equal(new Set(locals).size, 200);
  await waitFor(
    "all 200 closes",
    () =>
      locals.every((l) =>
        d.events.some((e) => e.source?.port === l && e.event.action === "connection-closed"),
      ),
    30_000,
  );
  const ids = new Set<string>();
  for (const l of locals) {
    const mine = bySrcPort(d, l).filter((e) => e.process?.pid === process.pid);
    assert.deepEqual(
      mine.map((e) => e.event.action),
      ["connection-opened", "connection-closed"],
      `source port ${l}`,
    );
    ids.add(mine[0]?.ssh_outbound.connection_id);
  }
  assert.equal(ids.size, 200, "ids are unique");
});

test("every event validates against the schema", (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  const d = daemon as Daemon;
  assert.equal(d.lines.length, d.events.length);
  for (const e of d.events) assertValidEvent(e);
});

test("unpinned (--pin none), the program lives only as long as the daemon: gone after SIGTERM and after kill -9", async (t) => {
  if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
  if (!needs(t, hasCommand("bpftool"), "needs bpftool to list the kernel's BPF programs")) return;
  const before = new Set(ourPrograms());
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const d = startDaemon([
      "run",
      "--source",
      "ebpf",
      "--format",
      "json",
      "--stats-interval",
      "0",
      "--pin",
      "none",
    ]);
    await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started", 30_000);
    const mine = ourPrograms().filter((id) => !before.has(id));
    assert.equal(mine.length, 1, "one program attached by this daemon");
    const exited = new Promise((r) => d.child.once("exit", r));
    d.child.kill(signal);
    await exited;
    // The kernel frees a program when its last descriptor closes, which the process's exit does.
    await waitFor(
      `the program freed after ${signal}`,
      () => !ourPrograms().includes(mine[0] as number),
      10_000,
    );
  }
});
