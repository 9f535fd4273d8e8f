import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf-check.ts";
import { needs } from "../helpers/ci.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { type Conn, checkTrail, oneConnection, plainListener, readTrail } from "../helpers/load.ts";
import { waitFor } from "../helpers/wait.ts";

// Fault: the kernel probe (bpftrace) killed five times while one connection a second is made. Each
// time /proc is polled until it is back; the fifth time the source gives up and procfs takes over,
// said in monitor-degraded. No connection may be missing from the trail at any point.

const KILLS = 5;

function probePid(daemonPid: number): number | undefined {
  try {
    const out = execFileSync("pgrep", ["-P", String(daemonPid), "-x", "bpftrace"])
      .toString()
      .trim();
    return out ? Number(out.split("\n")[0]) : undefined;
  } catch {
    return undefined;
  }
}

test(`bpftrace killed ${KILLS} times during 1 connection/s: no connection missing`, async (t) => {
  const c = checkEbpf("bpftrace");
  if (!needs(t, c.ok, `the eBPF source cannot run: ${c.reason}`)) return;
  const dir = mkdtempSync(join(tmpdir(), "sol-probe-kill-"));
  const log = join(dir, "log.log");
  const listener = await plainListener();
  const d = startDaemon(["run", "--source", "ebpf", "--ports", String(listener.port), "-o", log]);
  try {
    await waitFor(
      "monitor-started",
      () => readTrail([log]).events.some((e) => e.event.action === "monitor-started"),
      60_000,
    );
    const pid = d.child.pid as number;
    let stop = false;
    const made: Conn[] = [];
    const pending: Promise<void>[] = [];
    const load = (async () => {
      while (!stop) {
        pending.push(oneConnection(listener.port, 200).then((c) => void made.push(c)));
        await new Promise((r) => setTimeout(r, 1000));
      }
      await Promise.all(pending);
    })();
    for (let i = 1; i <= KILLS; i++) {
      if (i > 1) {
        await waitFor(
          `bpftrace attached again (${i - 1})`,
          () => (d.stderr().match(/bpftrace attached again/g) ?? []).length >= i - 1,
          30_000,
        );
      }
      const p = await waitFor(`bpftrace running (kill ${i})`, () => probePid(pid), 30_000);
      // A connection or two while it runs, then the kill.
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(p, "SIGKILL");
    }
    await waitFor(
      "procfs took over",
      () => readTrail([log]).events.some((e) => e.event.action === "monitor-degraded"),
      30_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await load;
    await waitFor(
      "every connection in the trail",
      () => checkTrail(readTrail([log]).events, listener.port, made).missing.length === 0,
      15_000,
    ).catch(() => undefined);
    assert.equal(await d.stop(), 0);
    const { events, bad } = readTrail([log]);
    assert.deepEqual(bad, []);
    const r = checkTrail(events, listener.port, made);
    const degraded = events.find((e) => e.event.action === "monitor-degraded");
    t.diagnostic(
      `${made.length} connections, ${r.missing.length} missing, ${r.duplicated.length} duplicated; ` +
        `degraded: ${degraded?.ssh_outbound.monitor.reason}`,
    );
    assert.ok(made.length >= 20);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.duplicated, []);
    assert.equal(degraded?.ssh_outbound.monitor.source, "procfs");
    assert.equal(
      events.filter((e) => e.event.action === "monitor-stopped")[0]?.ssh_outbound.monitor.source,
      "procfs",
    );
  } finally {
    await d.stop();
    await listener.close();
  }
});
