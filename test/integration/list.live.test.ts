import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Ev, runCli } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

const ready = Boolean(SSHD) && hasCommand("ssh");
let sshd: TestSshd | undefined;
let client: ChildProcess | undefined;

before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  client = spawn("ssh", [...sshd.sshArgs, "sleep", "30"], { stdio: "ignore" });
});
after(() => {
  client?.kill("SIGKILL");
  sshd?.stop();
});

test("list shows a live ssh session with its user, typed target and ancestry", async (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const s = sshd as TestSshd;
  const pid = client?.pid as number;
  const mine = await waitFor(
    "the session in list --json",
    () => {
      const r = runCli(["list", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const records = r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Ev);
      return records.find((e) => e.process?.pid === pid && e.event.action === "connection-opened");
    },
    20_000,
  );
  assertValidEvent(mine);
  assert.equal(mine.user.name, s.user);
  assert.equal(mine.process.name, "ssh");
  assert.equal(mine.destination.port, s.port);
  assert.equal(mine.ssh_outbound.observed, "already-open");
  assert.deepEqual(
    {
      host: mine.ssh_outbound.target.host,
      port: mine.ssh_outbound.target.port,
      user: mine.ssh_outbound.target.user,
    },
    { host: "127.0.0.1", port: s.port, user: s.user },
  );
  assert.ok(
    mine.ssh_outbound.ancestry.some((a: Ev) => a.pid === process.pid),
    "the test process is among the ancestors",
  );

  const table = runCli(["list"]);
  assert.equal(table.code, 0, table.stderr);
  const row = table.stdout.split("\n").find((l) => l.includes(`ssh[${pid}]`));
  assert.ok(row, table.stdout);
  assert.match(
    row,
    new RegExp(
      `open\\s+${s.user}\\s+ssh\\[${pid}\\]\\s+${s.user}@127\\.0\\.0\\.1:${s.port}\\s+127\\.0\\.0\\.1:${s.port}`,
    ),
  );
  assert.match(row, />node>ssh$/, "the short ancestry ends with the test's node and ssh");
});
