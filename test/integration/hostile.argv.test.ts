import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ARGV_ATTACK } from "../helpers/attacks.ts";
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
import { assertValidEvent } from "../helpers/schema.ts";
import { startSshd, type TestSshd } from "../helpers/sshd.ts";

// Issue 19, attack 1: a process named ssh with an argv of 2 MB (some 145,000 port forwards) connects
// to the SSH port again and again. The daemon reads 64 KiB of it, parses it once in linear time, and
// says how large it was; a normal session made meanwhile is in the trail within a second.

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

for (const source of sources()) {
  test(`${source}: 2 MB argvs named ssh cost bounded work; a normal session is logged within a second`, async (t) => {
    if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
    const s = sshd as TestSshd;
    const d = await watching(source, String(s.port));
    const pid = d.pid;
    try {
      const cpu0 = cpuSeconds(pid);
      const attack = asNobody(ARGV_ATTACK, [String(s.port), "4", String(2_000_000)]);
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
