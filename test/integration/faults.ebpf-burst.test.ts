import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { needs } from "../helpers/ci.ts";
import { NO_RATE_LIMIT, startDaemon } from "../helpers/daemon.ts";
import {
  type Conn,
  checkTrail,
  connectionLoad,
  plainListener,
  readTrail,
  stoppedStats,
  waitStarted,
} from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { waitFor } from "../helpers/wait.ts";

// Faults in the kernel events themselves: more than the ring buffer holds while the daemon does not
// read it. Every connection must be in the trail opened and closed, or counted as lost in
// monitor-stopped; none may stay open for ever (a lost close is repaired against the kernel's tables).

const ebpf = () => {
  const c = checkEbpf();
  return { ok: c.ok, reason: c.ok ? "" : c.reason };
};

test("2,000 connects in 2 s: each opened and closed; nothing lost", async (t) => {
  const c = ebpf();
  if (!needs(t, c.ok, `the eBPF source cannot run: ${c.reason}`)) return;
  const dir = scratchDir("sol-burst-");
  const log = join(dir, "log.log");
  const listener = await plainListener();
  const d = startDaemon([
    "run",
    "--source",
    "ebpf",
    "--ports",
    String(listener.port),
    "-o",
    log,
    ...NO_RATE_LIMIT,
  ]);
  try {
    await waitStarted(log);
    const conns = await connectionLoad({ port: listener.port, perSecond: 1000, holdMs: 0, durationMs: 2000 });
    await waitFor(
      "every connection in the trail",
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
        `lost ${stats.source_lost}, orphans ${stats.source_orphans}, open at stop ${stats.open_connections}`,
    );
    assert.equal(conns.length, 2000);
    assert.deepEqual([r.missing.length, r.duplicated.length, stats.source_lost], [0, 0, 0]);
    assert.equal(stats.open_connections, 0, "no session left open for ever");
  } finally {
    await d.stop();
    await listener.close();
  }
});

/** Until the log has not grown for 3 s (then the daemon has worked through what it had). */
async function settled(log: string, timeoutMs: number): Promise<void> {
  let size = -1;
  let since = Date.now();
  await waitFor(
    "the trail to stop growing",
    () => {
      const now = readTrail([log]).events.length;
      if (now !== size) {
        size = now;
        since = Date.now();
      }
      return Date.now() - since >= 3000;
    },
    timeoutMs,
  );
}

/** A server that resets every connection as soon as it is accepted: no TIME_WAIT left on either side. */
async function resettingServer(): Promise<{ port: number; close(): void }> {
  const server = createServer((s) => {
    s.on("error", () => undefined);
    s.resetAndDestroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

/** `n` connects to `port` in about `ms`, at most `parallel` at a time. */
async function burst(port: number, n: number, ms: number, parallel = 200): Promise<Conn[]> {
  const conns: Conn[] = [];
  let next = 0;
  const t0 = Date.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const due = t0 + (i * ms) / n;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      await new Promise<void>((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.on("connect", () =>
          conns.push({ localPort: s.localPort as number, openMs: Date.now(), closeMs: 0 }),
        );
        s.on("error", () => undefined);
        s.on("close", () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return conns;
}

for (const stop of [false, true]) {
  const how = stop ? "while the daemon is stopped (SIGSTOP) for 2 s" : "with the daemon reading as usual";
  test(`20,000 connects in about 2 s ${how}: each logged, or counted lost`, async (t) => {
    const c = ebpf();
    if (!needs(t, c.ok, `the eBPF source cannot run: ${c.reason}`)) return;
    const dir = scratchDir("sol-burst-stop-");
    const log = join(dir, "log.log");
    const server = await resettingServer();
    const d = startDaemon([
      "run",
      "--source",
      "ebpf",
      "--ports",
      String(server.port),
      "-o",
      log,
      ...NO_RATE_LIMIT,
    ]);
    try {
      await waitStarted(log);
      const pid = d.child.pid as number;
      // The daemon does not read its ring buffer for 2 s in the middle of the burst: the kernel side
      // goes on, the buffer fills, and the program counts what it cannot reserve.
      if (stop) {
        setTimeout(() => process.kill(pid, "SIGSTOP"), 300);
        setTimeout(() => process.kill(pid, "SIGCONT"), 2300);
      }
      const conns = await burst(server.port, 20_000, 2000);
      // The daemon works through its backlog after SIGCONT, and repairs the lost closes a second after
      // it reads the loss: the trail has settled when it has not grown for 3 s.
      await settled(log, 60_000);
      assert.equal(await d.stop(), 0);
      const { events, bad } = readTrail([log]);
      assert.deepEqual(bad, []);
      const r = checkTrail(events, server.port, conns);
      const stats = stoppedStats(events);
      t.diagnostic(
        `${conns.length} connections: ${r.missing.length} missing, ${r.duplicated.length} duplicated; ` +
          `lost ${stats.source_lost}, repaired ${stats.source_repaired}, orphans ${stats.source_orphans}, ` +
          `open at stop ${stats.open_connections}`,
      );
      assert.ok(conns.length >= 19_000, `the burst made ${conns.length} connections`);
      // Each missing connection lost at least its connect record, and the program counted each.
      assert.ok(
        r.missing.length <= (stats.source_lost as number),
        "every missing connection is counted as lost",
      );
      assert.deepEqual(r.duplicated, []);
      assert.equal(stats.open_connections, 0, "no session left open for ever");
    } finally {
      await d.stop();
      server.close();
    }
  });
}
