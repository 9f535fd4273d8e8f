import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { IS_ROOT, needs } from "../helpers/ci.ts";
import { NO_RATE_LIMIT, startDaemon } from "../helpers/daemon.ts";
import { checkTrail, connectionLoad, plainListener, readTrail, waitStarted } from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { waitFor } from "../helpers/wait.ts";

// Fault: the log's file system full for 10 s (a real 64 MiB tmpfs, filled to the last byte) during
// 20 connections a second. The daemon keeps running, holds what it cannot write, writes it in order
// once space is back, then says so in one output-recovered record.

test("disk full for 10 s during 20 connections/s: every record kept, in order, one output-recovered", async (t) => {
  if (!needs(t, IS_ROOT, "needs root to mount a tmpfs")) return;
  const dir = scratchDir("sol-full-");
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt]);
  const listener = await plainListener();
  const log = join(mnt, "log", "log.log");
  const d = startDaemon([
    "run",
    "--source",
    "procfs",
    "--ports",
    String(listener.port),
    "-o",
    log,
    ...NO_RATE_LIMIT,
  ]);
  try {
    await waitStarted(log);
    const load = connectionLoad({ port: listener.port, perSecond: 20, holdMs: 500, durationMs: 14_000 });
    await new Promise((r) => setTimeout(r, 2000));
    // Fill the file system to the last block: head stops with ENOSPC.
    const fill = spawnSync("sh", ["-c", `head -c 128M /dev/zero > ${mnt}/filler`]);
    assert.notEqual(fill.status, 0, "the filler hit ENOSPC");
    const fullAt = Date.now();
    await waitFor("the daemon to notice", () => d.stderr().includes("ENOSPC"), 10_000);
    await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - fullAt)));
    rmSync(join(mnt, "filler"));
    const conns = await load;
    await waitFor(
      "output-recovered and the last close",
      () => {
        const { events } = readTrail([log]);
        return (
          events.some((e) => e.event.action === "output-recovered") &&
          checkTrail(events, listener.port, conns).missing.length === 0
        );
      },
      15_000,
    ).catch((e: Error) => {
      const { events } = readTrail([log]);
      const r = checkTrail(events, listener.port, conns);
      throw new Error(`${e.message}; ${r.missing.length} missing of ${conns.length}; stderr: ${d.stderr()}`);
    });
    assert.equal(await d.stop(), 0, "still running, stopped by us");
    const { events, bad } = readTrail([log]);
    assert.deepEqual(bad, [], "no cut line");
    const r = checkTrail(events, listener.port, conns);
    t.diagnostic(
      `${conns.length} connections, ${r.missing.length} missing, ${r.duplicated.length} duplicated`,
    );
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.duplicated, []);
    const recovered = events.filter((e) => e.event.action === "output-recovered");
    assert.equal(recovered.length, 1, "one output-recovered");
    const o = recovered[0]?.ssh_outbound.monitor.outage;
    t.diagnostic(
      `held ${o.held}, dropped ${o.dropped}, from ${recovered[0]?.event.start} to ${recovered[0]?.event.end}`,
    );
    assert.ok(o.held > 100, `records were held (${o.held})`);
    assert.equal(o.dropped, 0);
    assert.equal(o.error, "ENOSPC");
    // In order: the procfs source stamps each record with its tick's time, so the file's timestamps
    // never go back, and output-recovered follows every held record.
    const times = events.map((e) => e["@timestamp"] as string);
    for (let i = 1; i < times.length; i++) {
      assert.ok((times[i] as string) >= (times[i - 1] as string), `line ${i + 1} is out of order`);
    }
    assert.ok(
      Date.parse(recovered[0]?.event.end) - Date.parse(recovered[0]?.event.start) >= 9000,
      "the outage window covers the 10 s",
    );
  } finally {
    await d.stop();
    await listener.close();
    spawnSync("umount", ["-l", mnt]);
  }
});
