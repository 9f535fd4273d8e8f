import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { hasCommand, needs } from "../helpers/ci.ts";
import { ROOT, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd } from "../helpers/sshd.ts";

const BUN = `${ROOT}node_modules/.bin/bun`;

test("the same source runs under Bun and logs a real ssh connection", async (t) => {
  const ok = existsSync(BUN) && Boolean(SSHD) && hasCommand("ssh");
  if (!needs(t, ok, "bun (npm ci installs it), sshd and ssh are needed")) return;
  const sshd = await startSshd();
  const d = startDaemon(["run", "--source", "procfs", "--format", "json", "--interval", "20"], {
    runtime: [BUN],
  });
  try {
    await d.waitFor("monitor-started under bun", (e) => e.event?.action === "monitor-started");
    const run = await runClient([...sshd.sshArgs, "sleep", "0.3"]);
    assert.equal(run.code, 0, run.stderr);
    const closed = await d.waitFor(
      "close",
      (e) => e.process?.pid === run.pid && e.event.action === "connection-closed",
    );
    const mine = d.events.filter((e) => e.ssh_outbound?.connection_id === closed.ssh_outbound.connection_id);
    assert.deepEqual(
      mine.map((e) => e.event.action),
      ["connection-opened", "connection-closed"],
    );
    assert.equal(closed.ssh_outbound.target.port, sshd.port);
    for (const e of d.events) assertValidEvent(e);
  } finally {
    assert.equal(await d.stop(), 0, d.stderr());
    sshd.stop();
  }
});
