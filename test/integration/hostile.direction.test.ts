import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { needs } from "../helpers/ci.ts";
import type { Ev } from "../helpers/daemon.ts";
import {
  asNobody,
  costLine,
  cpuSeconds,
  HOSTILE_READY,
  HOSTILE_WHY,
  normalSession,
  sources,
  watching,
} from "../helpers/hostile.ts";
import { freePort, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Issue 19, attack 2: an outbound connection made from a local port that a listener of the namespace
// also has, to pass for an accepted (inbound) one. As nobody: a listener on 127.0.0.1:P and a
// connection from 127.0.0.2:P; a wildcard listener on Q shared through SO_REUSEPORT by the connecting
// socket. Both are outbound, and both must be in the trail.

const ATTACK = `
import socket, sys, time
sshd, p, q = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
REPORT = {"connections": 0}
def hold(s):
    s.connect(("127.0.0.1", sshd))
    s.recv(64)
    time.sleep(0.5)  # longer than any procfs poll
    s.close()
    REPORT["connections"] += 1
# A listener on 127.0.0.1:P, the connection from 127.0.0.2:P.
l1 = socket.socket(); l1.bind(("127.0.0.1", p)); l1.listen(1)
c1 = socket.socket(); c1.bind(("127.0.0.2", p)); hold(c1)
# A wildcard listener on Q, shared with the connecting socket through SO_REUSEPORT.
l2 = socket.socket(); l2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); l2.bind(("0.0.0.0", q)); l2.listen(1)
c2 = socket.socket(); c2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); c2.bind(("0.0.0.0", q)); hold(c2)
`;

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

for (const source of sources()) {
  test(`${source}: an outbound connection from a listened-on port is logged, not taken for inbound`, async (t) => {
    if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
    const s = sshd as TestSshd;
    const d = await watching(source, String(s.port));
    const pid = d.pid;
    try {
      const cpu0 = cpuSeconds(pid);
      const [p, q] = [await freePort(), await freePort()];
      const attack = asNobody(ATTACK, [String(s.port), String(p), String(q)]);
      const normal = await normalSession(d, s, `normal-${source}`);
      const result = await attack.done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.report.connections, 2);
      assert.ok(
        normal.delayMs <= 1000,
        `the normal session's record came ${normal.delayMs} ms after its end`,
      );
      assert.equal(normal.ev.ssh_outbound.attribution, "complete");
      const closed = (ip: string, port: number) =>
        d.events.find(
          (e: Ev) =>
            e.event?.action === "connection-closed" && e.source?.ip === ip && e.source?.port === port,
        );
      const viaOtherAddress = await waitFor(
        `the connection from 127.0.0.2:${p}`,
        () => closed("127.0.0.2", p),
        10_000,
      );
      const viaReusePort = await waitFor(
        `the connection from 127.0.0.1:${q}`,
        () => closed("127.0.0.1", q),
        10_000,
      );
      for (const e of [viaOtherAddress, viaReusePort]) {
        assert.equal(e.user.name, "nobody");
        assert.equal(e.destination.port, s.port);
        assert.equal(e.network.direction, "egress");
      }
      t.diagnostic(costLine("2 connections from listened-on ports", cpuSeconds(pid) - cpu0, result.cpuS));
      t.diagnostic(`normal session in the trail ${normal.delayMs} ms after its end`);
    } finally {
      await d.stop();
    }
  });
}
