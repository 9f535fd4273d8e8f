import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { MuxWatch } from "../../src/sources/mux.ts";
import type { Observation } from "../../src/sources/types.ts";
import { hasCommand, needs } from "../helpers/ci.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Sessions over a control master (src/sources/mux.ts), told as the eBPF source tells them: a real ssh
// master on a ControlPath, a real client connecting to it; the watch finds the master behind the path
// (its pid and sockets), answers the next connect from its cache, and says the session's end when the
// client exits. A path nobody listens on is no session.

const ready = Boolean(SSHD) && hasCommand("ssh");
let sshd: TestSshd | undefined;
let master: ChildProcess | undefined;
let path = "";
before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  path = join(scratchDir("sol-mux-"), "cm");
  master = spawn("ssh", ["-M", "-S", path, "-N", ...sshd.sshArgs], { stdio: "ignore" });
  await waitFor("the control socket", () => existsSync(path), 15_000);
});
after(() => {
  master?.kill();
  sshd?.stop();
});

/** A client over the master, alive until it is killed. */
function client(): ChildProcess {
  return spawn("ssh", ["-S", path, ...(sshd as TestSshd).sshArgs, "sleep", "30"], { stdio: "ignore" });
}

test("a client's connect to the control path is a session over the master; its exit ends it", async (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const watch = new MuxWatch(new Set(["ssh"]));
  const c = client();
  try {
    const pid = c.pid as number;
    const owner = { pid, comm: "ssh", uid: process.getuid?.() ?? 0 };
    let open: Observation | undefined;
    await waitFor("the session", () => (open = watch.connected(pid, path, 1n, owner)), 15_000);
    assert.ok(open?.type === "session-open");
    assert.equal(open.session.masterPid, master?.pid);
    assert.ok(open.session.masterSockets.length > 0, "the master's sockets, its TCP connection among them");
    assert.equal(open.session.controlPath, path);
    assert.equal(watch.connected(pid, path, 2n, owner), undefined, "the same client is one session");
    const second = client();
    try {
      const o2 = await waitFor(
        "a second session",
        () => watch.connected(second.pid as number, path, 3n, { ...owner, pid: second.pid as number }),
        15_000,
      );
      assert.equal(o2.type, "session-open");
      assert.ok(watch.searches.cached >= 1, "the second answered from the path's cache");
    } finally {
      second.kill();
    }
    const close = watch.exited(pid, 4n);
    assert.ok(close?.type === "session-close");
    assert.equal(close.key, open.session.key);
    assert.equal(watch.sessions, 2);
  } finally {
    c.kill();
  }
});

test("a connect to a path no SSH client listens on is no session", (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const watch = new MuxWatch(new Set(["ssh"]));
  const owner = { pid: process.pid, comm: "ssh", uid: 0 };
  assert.equal(watch.connected(process.pid, join(scratchDir("sol-mux-"), "nothing"), 1n, owner), undefined);
});
