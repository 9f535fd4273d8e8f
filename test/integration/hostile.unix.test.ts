import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { UNIX_ATTACK } from "../helpers/attacks.ts";
import { needs } from "../helpers/ci.ts";
import {
  asNobody,
  costLine,
  cpuSeconds,
  EBPF_OK,
  HOSTILE_READY,
  HOSTILE_WHY,
  normalSession,
  watching,
} from "../helpers/hostile.ts";
import { startSshd, type TestSshd } from "../helpers/sshd.ts";

// Issue 19, attack 3: every unix connect() by a task named like an SSH client asks the daemon which
// control master listens there. As nobody, a task renamed ssh holds 10,000 unix sockets and connects
// 2,000 times, to 2,000 paths of its own: the search runs within the user's budget, its answers are
// kept, and every connect is counted (searched, answered from the cache, or skipped).

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

test("ebpf: 2,000 unix connects by a task named ssh holding 10,000 sockets cost a bounded search each", async (t) => {
  if (!needs(t, HOSTILE_READY && EBPF_OK(), `${HOSTILE_WHY}; and the eBPF probe`)) return;
  const s = sshd as TestSshd;
  const d = await watching("ebpf", String(s.port));
  const pid = d.pid;
  try {
    const cpu0 = cpuSeconds(pid);
    const attack = asNobody(UNIX_ATTACK, ["2000"]);
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
