import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { needs } from "../helpers/ci.ts";
import { type Ev, startDaemon } from "../helpers/daemon.ts";
import {
  asNobody,
  costLine,
  cpuSeconds,
  HOSTILE_READY,
  HOSTILE_WHY,
  normalSession,
  sources,
} from "../helpers/hostile.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { startSshd, type TestSshd } from "../helpers/sshd.ts";

// Issue 19, attack 1: a process named ssh with an argv of 2 MB (some 145,000 port forwards) connects
// to the SSH port again and again. The daemon reads 64 KiB of it, parses it once in linear time, and
// says how large it was; a normal session made meanwhile is in the trail within a second.

const ATTACK = `
import ctypes, resource, socket, subprocess, sys, time
port, seconds, size = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
# A larger stack allows a larger argv (a quarter of it, up to 6 MiB): any user may raise it.
hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
resource.setrlimit(resource.RLIMIT_STACK, (hard if hard != resource.RLIM_INFINITY and hard < 64 << 20 else 64 << 20, hard))
CHILD = """
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, b"ssh", 0, 0, 0)  # PR_SET_NAME: the task is called ssh
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(64)        # the server's banner: the connection is established
time.sleep(0.5)   # held longer than any procfs poll, so a loaded machine still sees it
s.close()
"""
forwards, total, i = [], 0, 0
while total < size:
    a = "-L%d:h:%d" % (i, i)
    forwards.append(a)
    total += len(a) + 1
    i += 1
REPORT = {"connections": 0, "argv_bytes": total}
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    subprocess.run([sys.executable, "-c", CHILD, str(port)] + forwards, check=True)
    REPORT["connections"] += 1
`;

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

for (const source of sources()) {
  test(`${source}: 2 MB argvs named ssh cost bounded work; a normal session is logged within a second`, async (t) => {
    if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
    const s = sshd as TestSshd;
    const d = startDaemon([
      "run",
      "--source",
      source,
      "--format",
      "json",
      "--ports",
      String(s.port),
      "--stats-interval",
      "0",
    ]);
    try {
      await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started", 30_000);
      const pid = d.child.pid as number;
      const cpu0 = cpuSeconds(pid);
      const attack = asNobody(ATTACK, [String(s.port), "4", String(2_000_000)]);
      const normal = await normalSession(d, s, `normal-${source}`);
      const result = await attack.done;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(
        normal.delayMs <= 1000,
        `the normal session's record came ${normal.delayMs} ms after its end`,
      );
      assert.equal(normal.ev.ssh_outbound.attribution, "complete");
      assert.equal(normal.ev.ssh_outbound.target?.host, "127.0.0.1");
      const n = result.report.connections as number;
      assert.ok(n >= 2, `the attack made ${n} connections`);
      // Every attempt is a record: opened and closed, its argv cut at 64 KiB with the whole size told.
      const theirs = await waitForAll(d.events, n, s.port);
      for (const e of theirs) {
        assertValidEvent(e);
        assert.equal(e.process.name, "ssh");
        assert.ok(e.ssh_outbound.args_cut.bytes > 2_000_000, JSON.stringify(e.ssh_outbound.args_cut));
        assert.equal(e.ssh_outbound.args_cut.kept, 64 * 1024);
        assert.ok(e.process.args_count > 100_000, `args_count ${e.process.args_count}`);
      }
      const daemonS = cpuSeconds(pid) - cpu0;
      t.diagnostic(
        costLine(`${n} connections with ${result.report.argv_bytes} bytes of argv`, daemonS, result.cpuS),
      );
      t.diagnostic(`normal session in the trail ${normal.delayMs} ms after its end`);
    } finally {
      await d.stop();
    }
  });
}

/** The attacker's n connections, each closed; waited for, since the last may still be closing. */
async function waitForAll(events: Ev[], n: number, port: number): Promise<Ev[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const closed = events.filter(
      (e) =>
        e.event?.action === "connection-closed" && e.user?.name === "nobody" && e.destination?.port === port,
    );
    if (closed.length >= n) {
      assert.equal(closed.length, n, "one close per connection");
      const opened = events.filter(
        (e) =>
          e.event?.action === "connection-opened" &&
          e.user?.name === "nobody" &&
          e.destination?.port === port,
      );
      assert.equal(opened.length, n, "one open per connection");
      return closed;
    }
    if (Date.now() > deadline) throw new Error(`${closed.length} of ${n} attack connections in the trail`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
