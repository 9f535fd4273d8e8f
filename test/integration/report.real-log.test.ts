import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Ev, readEventFile, runCli, startDaemon } from "../helpers/daemon.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// report over a log the real daemon wrote for real ssh sessions.
const ready = Boolean(SSHD) && hasCommand("ssh");
const dir = scratchDir("sol-report-real-");
const log = join(dir, "log.log");
let sshd: TestSshd | undefined;
const pids: number[] = [];

before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  const d = startDaemon(["run", "--source", "procfs", "--interval", "20", "--stats-interval", "0"], {
    env: { SSH_OUTBOUND_OUTPUT: log },
  });
  await waitFor(
    "monitor-started",
    () => readEventFile(log).some((e) => e.event.action === "monitor-started"),
    15_000,
  );
  for (const cmd of [["true"], ["sleep", "0.5"], ["true"]]) {
    const r = await runClient([...sshd.sshArgs, ...cmd]);
    assert.equal(r.code, 0, r.stderr);
    pids.push(r.pid);
  }
  await waitFor(
    "the three closes",
    () =>
      pids.every((pid) =>
        readEventFile(log).some((e) => e.process?.pid === pid && e.event.action === "connection-closed"),
      ),
    15_000,
  );
  assert.equal(await d.stop(), 0, d.stderr());
});
after(() => {
  sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("report --json turns the daemon's records into one closed session per ssh run", (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const s = sshd as TestSshd;
  const r = runCli(["report", "--json", log]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "", "no line skipped");
  const sessions = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev)
    .filter((x) => x.type === "session" && pids.includes(x.pid));
  assert.deepEqual(sessions.map((x) => x.pid).sort(), [...pids].sort());
  for (const x of sessions) {
    assert.equal(x.status, "closed");
    assert.equal(x.user, s.user);
    assert.equal(x.process, "ssh");
    assert.equal(x.target, `${s.user}@127.0.0.1:${s.port}`);
    assert.equal(x.destIp, "127.0.0.1");
    assert.equal(x.destPort, s.port);
    // A real session takes its handshake's time at least, and the duration is its start to its end.
    assert.ok(x.durationMs > 0, `duration ${x.durationMs} ms`);
    assert.ok(Math.abs(x.durationMs - (Date.parse(x.end) - Date.parse(x.start))) <= 1);
    assert.match(x.ancestry, />node>ssh$/);
  }
  const slow = sessions.find((x) => x.pid === pids[1]) ?? assert.fail("no session for the sleep run");
  assert.ok(slow.durationMs >= 400, `the 'sleep 0.5' session lasted ${slow.durationMs} ms`);
});

test("report's table and --by target read the same log", (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const s = sshd as TestSshd;
  const table = runCli(["report", log]);
  assert.equal(table.code, 0, table.stderr);
  for (const pid of pids) assert.ok(table.stdout.includes(`ssh[${pid}]`), table.stdout);
  const by = runCli(["report", "--by", "target", "--json", log]);
  const group = by.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev)
    .find((g) => g.key === `${s.user}@127.0.0.1:${s.port}`);
  assert.equal(group?.sessions, 3);
  assert.equal(group?.failed, 0);
  // the daemon stopped at the end: the time after its monitor-stopped is a gap to the end of the log
  assert.match(
    runCli(["report", log]).stdout,
    /---- not watching .*→ end of log, monitor stopped \(SIGTERM\)/,
  );
});
