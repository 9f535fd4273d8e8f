import assert from "node:assert/strict";
import { linkSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { IS_ROOT, needs } from "../helpers/ci.ts";
import { NO_RATE_LIMIT, startDaemon } from "../helpers/daemon.ts";
import { checkTrail, connectionLoad, plainListener, readTrail, waitStarted } from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { waitFor } from "../helpers/wait.ts";

// Fault: the log file removed with rm, and its whole directory with rm -r, while 20 connections a
// second are logged, with no SIGHUP. Before each removal a hard link elsewhere keeps what was written
// so far, so the union of the kept files and the final log must hold every record exactly once. A last
// plain rm (no link: the inode's last name gone) checks that nothing after it goes into a dead inode.

test("rm of the log file and of its directory during 20 connections/s: no record lost", async (t) => {
  if (!needs(t, IS_ROOT, "needs root to see every process's sockets")) return;
  const dir = scratchDir("sol-rm-");
  const logDir = join(dir, "logs");
  const log = join(logDir, "log.log");
  const listener = await plainListener();
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
    const load = connectionLoad({ port: listener.port, perSecond: 20, holdMs: 500, durationMs: 10_000 });
    const keepAndRemove = (n: number, what: string) => {
      linkSync(log, `${dir}/kept.${n}`);
      rmSync(what, { recursive: true });
    };
    await new Promise((r) => setTimeout(r, 2000));
    keepAndRemove(1, log);
    await new Promise((r) => setTimeout(r, 2000));
    keepAndRemove(2, logDir);
    await new Promise((r) => setTimeout(r, 2000));
    keepAndRemove(3, log);
    const lastKeptAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    // The last one: a plain rm, the file's only name.
    rmSync(log);
    const plainRmAt = Date.now();
    const conns = await load;
    const keptFiles = () => [
      ...readdirSync(dir)
        .filter((f) => f.startsWith("kept."))
        .sort()
        .map((f) => join(dir, f)),
      log,
    ];
    const after = conns.filter((c) => c.openMs > plainRmAt + 100);
    await waitFor(
      "every connection after the plain rm in the new file",
      () => checkTrail(readTrail([log]).events, listener.port, after).missing.length === 0,
      15_000,
    );
    assert.equal(await d.stop(), 0);
    assert.equal(statSync(logDir).mode & 0o777, 0o750, "the recreated directory is 0750");
    // What was written between the last kept link and the plain rm is gone with the file: by design.
    const before = conns.filter((c) => c.closeMs < lastKeptAt - 200);
    const { events, bad } = readTrail(keptFiles());
    assert.deepEqual(bad, []);
    const r = checkTrail(events, listener.port, before);
    t.diagnostic(
      `${conns.length} connections; before the plain rm ${before.length}: ${r.missing.length} missing, ` +
        `${r.duplicated.length} duplicated; after it ${after.length}`,
    );
    assert.ok(before.length > 100 && after.length > 20);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.duplicated, []);
    const final = checkTrail(readTrail([log]).events, listener.port, after);
    assert.deepEqual([final.missing, final.duplicated], [[], []]);
    assert.match(d.stderr(), /started/);
  } finally {
    await d.stop();
    await listener.close();
  }
});
