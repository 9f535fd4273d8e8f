import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { IS_ROOT, needs } from "../helpers/ci.ts";
import { CLI, ROOT, startDaemon } from "../helpers/daemon.ts";
import { oneConnection, plainListener, readTrail, waitStarted } from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { waitFor } from "../helpers/wait.ts";

// Fault: symlinks planted at the paths a root daemon writes (log, pid, state), as a user who can write
// the directory would. The files they point to must stay exactly as they were.

function victim(dir: string): { path: string; unchanged(): void } {
  const path = join(dir, "victim");
  writeFileSync(path, "precious\n", { mode: 0o600 });
  return {
    path,
    unchanged: () => assert.equal(readFileSync(path, "utf8"), "precious\n", "the target is untouched"),
  };
}

test("a symlink at the log path is refused at start with exit 2, naming the option", (t) => {
  if (!needs(t, IS_ROOT, "a root daemon is what the attack needs")) return;
  const dir = scratchDir("sol-link-");
  const v = victim(dir);
  const log = join(dir, "log.log");
  symlinkSync(v.path, log);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "run", "--source", "procfs", "-o", log], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--output .*ELOOP/);
  assert.ok(Date.now() - t0 < 10_000);
  v.unchanged();
});

test("symlinks at the pid and state paths are replaced, not followed; one planted at the log later is not written through", async (t) => {
  if (!needs(t, IS_ROOT, "a root daemon is what the attack needs")) return;
  const dir = scratchDir("sol-link-");
  const v = victim(dir);
  const pid = join(dir, "run.pid");
  const state = join(dir, "state.json");
  const log = join(dir, "log.log");
  symlinkSync(v.path, pid);
  symlinkSync(v.path, state);
  const listener = await plainListener();
  const d = startDaemon([
    "run",
    "--source",
    "procfs",
    "--ports",
    String(listener.port),
    "-o",
    log,
    "--pid-file",
    pid,
    "--state-file",
    state,
  ]);
  try {
    await waitStarted(log);
    v.unchanged();
    assert.ok(lstatSync(pid).isFile(), "the pid path is now our own file");
    assert.equal(readFileSync(pid, "utf8"), `${d.child.pid}\n`);
    // Written right after monitor-started; until then the path is empty (the link was set aside).
    await waitFor("the state file written", () => existsSync(state) && lstatSync(state).isFile(), 5000);
    // The log replaced by a link after start: the next records wait rather than go through it.
    rmSync(log);
    symlinkSync(v.path, log);
    const c = await oneConnection(listener.port, 200);
    await waitFor("the write to fail", () => /ELOOP/.test(d.stderr()), 10_000);
    v.unchanged();
    rmSync(log);
    await waitFor(
      "the held records written to a new file",
      () =>
        readTrail([log]).events.some(
          (e) => e.source?.port === c.localPort && e.event.action === "connection-closed",
        ),
      10_000,
    );
    assert.equal(await d.stop(), 0);
    v.unchanged();
    assert.throws(() => lstatSync(pid), "our pid file removed at stop");
  } finally {
    await d.stop();
    await listener.close();
  }
});
