import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf-check.ts";
import { needs } from "../helpers/ci.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { checkTrail, connectionLoad, plainListener, readTrail, stoppedStats } from "../helpers/load.ts";
import { waitFor } from "../helpers/wait.ts";

// Fault: more kernel events than the probe may carry in order: 2,000 connects in 2 s to a plain
// listener, each closed at once. bpftrace's per-CPU buffers can deliver a close before its connect, and
// can drop events. Every connection must be in the trail opened and closed, or counted as lost; none
// may stay open for ever.

test("2,000 connects in 2 s: each opened and closed, or counted lost; none left open", async (t) => {
  const c = checkEbpf("bpftrace");
  if (!needs(t, c.ok, `the eBPF source cannot run: ${c.reason}`)) return;
  const dir = mkdtempSync(join(tmpdir(), "sol-burst-"));
  const log = join(dir, "log.log");
  const listener = await plainListener();
  const d = startDaemon(["run", "--source", "ebpf", "--ports", String(listener.port), "-o", log]);
  try {
    await waitFor(
      "monitor-started",
      () => readTrail([log]).events.some((e) => e.event.action === "monitor-started"),
      60_000,
    );
    const conns = await connectionLoad({ port: listener.port, perSecond: 1000, holdMs: 0, durationMs: 2000 });
    // Settled: the last close is in, or (events lost) the repair a second later has run.
    await waitFor(
      "the trail to settle",
      () => checkTrail(readTrail([log]).events, listener.port, conns).missing.length === 0,
      15_000,
    ).catch(() => undefined);
    assert.equal(await d.stop(), 0);
    const { events, bad } = readTrail([log]);
    assert.deepEqual(bad, []);
    const r = checkTrail(events, listener.port, conns);
    const stats = stoppedStats(events);
    t.diagnostic(
      `${conns.length} connections: ${r.missing.length} missing, ${r.duplicated.length} duplicated; ` +
        `kernel lost ${stats.source_lost}, reordered ${stats.source_reordered}, repaired ${stats.source_repaired}, ` +
        `open at stop ${stats.open_connections}`,
    );
    assert.equal(conns.length, 2000);
    assert.ok(r.missing.length <= (stats.source_lost as number), "every missing one is counted as lost");
    assert.deepEqual(r.duplicated, []);
    assert.equal(stats.open_connections, 0, "no session left open for ever");
  } finally {
    await d.stop();
    await listener.close();
  }
});
