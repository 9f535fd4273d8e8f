import assert from "node:assert/strict";
import { readlinkSync } from "node:fs";
import { after, test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";

let sshd: TestSshd | undefined;
let daemon: Daemon | undefined;

after(async () => {
  await daemon?.stop();
  sshd?.stop();
});

test("a connection made inside another network namespace is logged with that namespace", async (t) => {
  const ok = IS_ROOT && Boolean(SSHD) && hasCommand("unshare") && hasCommand("nsenter") && hasCommand("ip");
  if (!needs(t, ok, "root, sshd, unshare, nsenter and ip (iproute2) are needed to make a network namespace"))
    return;
  // A fresh namespace with only its own loopback; the server and the client both live in it.
  sshd = await startSshd({
    netnsExec: ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"],
  });
  const nsLink = readlinkSync(`/proc/${sshd.pid}/ns/net`);
  const netns = Number(/\[(\d+)\]/.exec(nsLink)?.[1]);
  assert.notEqual(nsLink, readlinkSync("/proc/self/ns/net"), "the server runs in a namespace of its own");
  daemon = startDaemon(["run", "--source", "procfs", "--format", "json", "--interval", "20"]);
  await daemon.waitFor("monitor-started", (e) => e.event?.action === "monitor-started");
  const run = await runClient([...sshd.sshArgs, "sleep", "0.5"], {
    prefix: ["nsenter", `--net=/proc/${sshd.pid}/ns/net`],
  });
  assert.equal(run.code, 0, run.stderr);
  const closed = await daemon.waitFor(
    "the close",
    (e) => e.process?.pid === run.pid && e.event.action === "connection-closed",
  );
  const mine = daemon.events.filter(
    (e) => e.ssh_outbound?.connection_id === closed.ssh_outbound.connection_id,
  );
  assert.deepEqual(
    mine.map((e) => e.event.action),
    ["connection-opened", "connection-closed"],
  );
  for (const e of mine) {
    assert.equal(e.ssh_outbound.netns, netns);
    assert.equal(e.destination.port, sshd.port);
    assertValidEvent(e);
  }
  // The server side of the same session, in the same namespace, is inbound and stays out.
  assert.equal(daemon.events.filter((e) => e.process?.name === "sshd").length, 0);
});
