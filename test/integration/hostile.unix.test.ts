import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { needs } from "../helpers/ci.ts";
import { startDaemon } from "../helpers/daemon.ts";
import {
  asNobody,
  costLine,
  cpuSeconds,
  EBPF_OK,
  HOSTILE_READY,
  HOSTILE_WHY,
  normalSession,
} from "../helpers/hostile.ts";
import { startSshd, type TestSshd } from "../helpers/sshd.ts";

// Issue 19, attack 3: every unix connect() by a task named like an SSH client asks the daemon which
// control master listens there. As nobody, a task renamed ssh holds 10,000 unix sockets and connects
// 2,000 times, to 2,000 paths of its own: the search runs within the user's budget, its answers are
// kept, and every connect is counted (searched, answered from the cache, or skipped).

const ATTACK = `
import ctypes, os, resource, socket, sys, tempfile
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
ctypes.CDLL(None).prctl(15, b"ssh", 0, 0, 0)  # PR_SET_NAME: the daemon's probe filters on it
held = [socket.socketpair(socket.AF_UNIX) for _ in range(5000)]  # 10,000 unix sockets
d = tempfile.mkdtemp()
listeners = []
for i in range(n):
    l = socket.socket(socket.AF_UNIX); l.bind(os.path.join(d, "c%d" % i)); l.listen(1); listeners.append(l)
REPORT = {"connects": 0}
for i in range(n):
    c = socket.socket(socket.AF_UNIX)
    c.connect(os.path.join(d, "c%d" % i))
    c.close()
    REPORT["connects"] += 1
`;

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

test("ebpf: 2,000 unix connects by a task named ssh holding 10,000 sockets cost a bounded search each", async (t) => {
  if (!needs(t, HOSTILE_READY && EBPF_OK(), `${HOSTILE_WHY}; and the eBPF probe`)) return;
  const s = sshd as TestSshd;
  const d = startDaemon([
    "run",
    "--source",
    "ebpf",
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
    const attack = asNobody(ATTACK, ["2000"]);
    const normal = await normalSession(d, s, "normal-ebpf");
    const result = await attack.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.report.connects, 2000);
    assert.ok(normal.delayMs <= 1000, `the normal session's record came ${normal.delayMs} ms after its end`);
    assert.equal(normal.ev.ssh_outbound.attribution, "complete");
    const daemonS = cpuSeconds(pid) - cpu0;
    await d.stop();
    const stats = d.events.find((e) => e.event?.action === "monitor-stopped")?.ssh_outbound.monitor.stats;
    const searched =
      stats.source_mux_searches + stats.source_mux_searches_cached + stats.source_mux_searches_skipped;
    assert.ok(searched >= 2000, `every connect counted: ${JSON.stringify(stats)}`);
    // Five a second, bursts of twenty: the slow search ran for a small share of them.
    assert.ok(stats.source_mux_searches < 200, `searches made: ${stats.source_mux_searches}`);
    t.diagnostic(costLine("2,000 unix connects", daemonS, result.cpuS));
    t.diagnostic(
      `searches: ${stats.source_mux_searches} made, ${stats.source_mux_searches_cached} from the cache, ${stats.source_mux_searches_skipped} skipped`,
    );
    t.diagnostic(`normal session in the trail ${normal.delayMs} ms after its end`);
  } finally {
    await d.stop();
  }
});
