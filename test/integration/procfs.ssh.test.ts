import assert from "node:assert/strict";
import { constants, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Daemon, startDaemon, toPort } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { assertSshClient, session } from "../helpers/session.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";

const ready = Boolean(SSHD) && hasCommand("ssh");
let sshd: TestSshd | undefined;
let daemon: Daemon | undefined;

before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  daemon = startDaemon(["run", "--source", "procfs", "--format", "json", "--interval", "20"]);
  await daemon.waitFor("monitor-started", (e) => e.event?.action === "monitor-started");
});

after(async () => {
  const code = await daemon?.stop();
  if (daemon) assert.equal(code, 0, `daemon exit code; stderr: ${daemon.stderr()}`);
  sshd?.stop();
});

test("ssh sessions are logged once opened and once closed, with one UUIDv7, process, user and typed target", async (t) => {
  if (!needs(t, ready, "sshd and ssh are needed (apt-get install openssh-server openssh-client)")) return;
  const s = sshd as TestSshd;
  const d = daemon as Daemon;
  const long = await runClient([...s.sshArgs, "sleep", "1"]);
  const quick = await runClient([...s.sshArgs, "true"]);
  assert.equal(long.code, 0, long.stderr);
  assert.equal(quick.code, 0, quick.stderr);
  for (const run of [long, quick]) {
    const [o, c] = await session(d, `ssh pid ${run.pid}`, (e) => e.process?.pid === run.pid);
    for (const e of [o, c]) assertSshClient(e, s, run.pid, run === long ? "sleep 1" : "true");
    assert.ok(c.event.duration > 0);
    assert.ok(typeof o.network.community_id === "string");
  }
});

test("the inbound side of a loopback session is not logged", async (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const s = sshd as TestSshd;
  const d = daemon as Daemon;
  const run = await runClient([...s.sshArgs, "sleep", "0.3"]);
  await d.waitFor("the close", (e) => e.process?.pid === run.pid && e.event.action === "connection-closed");
  const inbound = d.events.filter((e) => e.source?.port === s.port || e.process?.name === "sshd");
  assert.deepEqual(inbound, []);
  assert.ok(toPort(d.events, s.port).length >= 2);
});

test("every event the daemon wrote validates against the JSON Schema", async (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const d = daemon as Daemon;
  assert.ok(d.events.length >= 5);
  assert.equal(d.lines.length, d.events.length, "every line is JSON");
  for (const e of d.events) assertValidEvent(e);
});

test("standard output, a pipe, is left blocking: a reader a page behind is waited for only as long as it lags", (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const d = daemon as Daemon;
  // Made non-blocking (as Node does when anything touches process.stdout), the sink's synchronous
  // writes met EAGAIN whenever the reader lagged, and sonic-boom slept 100 ms each time with the whole
  // daemon stopped: 72 of 331 writes in a run of real sessions read by a busy harness.
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${d.child.pid}/fdinfo/1`, "utf8"))?.[1];
  assert.ok(flags !== undefined, "fdinfo of descriptor 1");
  assert.equal(Number.parseInt(flags, 8) & constants.O_NONBLOCK, 0, `descriptor 1's flags: ${flags}`);
});
