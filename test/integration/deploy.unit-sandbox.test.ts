import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { after, before, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, readEventFile, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { readUnit, unitSandbox } from "../helpers/unit.ts";
import { waitFor } from "../helpers/wait.ts";

// The daemon under the shipped unit's restrictions (capability bounding set, NoNewPrivileges,
// read-only file system but for its log directory, private /tmp, kallsyms/kcore/kmsg hidden, UMask),
// attributing a real ssh client that runs as another user, which is what needs the capabilities.
const ready = IS_ROOT && Boolean(SSHD) && hasCommand("ssh") && hasCommand("unshare") && hasCommand("setpriv");
const unit = readUnit();
let sshd: TestSshd | undefined;
let logDir = "";

before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  // Like LogsDirectory=: under /var/log, outside the private /tmp.
  logDir = mkdtempSync("/var/log/ssh-outbound-logger-test-");
});

after(() => {
  sshd?.stop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

async function sandboxedRun(source: string): Promise<void> {
  const s = sshd as TestSshd;
  const output = `${logDir}/${source}.log`;
  const box = unitSandbox([logDir], unit);
  const d: Daemon = startDaemon(["run", "--source", source, "--stats-interval", "0"], {
    runtime: [...box.prefix, process.execPath, "--import", "tsx"],
    // The state file as the unit sets it, in a directory the sandbox makes writable (StateDirectory=).
    env: {
      ...box.env,
      SSH_OUTBOUND_OUTPUT: output,
      SSH_OUTBOUND_STATE_FILE: `${logDir}/${source}.state.json`,
    },
  });
  try {
    const started = (pred: (e: Ev) => boolean) => () => readEventFile(output).find(pred);
    await waitFor(
      `monitor-started (${source}); stderr: ${d.stderr()}`,
      started((e) => e.event.action === "monitor-started"),
      60_000,
    );
    // A real ssh client as `nobody`: reading its /proc/PID/fd needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH.
    const run = await runClient(
      [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-p",
        String(s.port),
        "root@127.0.0.1",
        "true",
      ],
      { prefix: ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "--"] },
    );
    assert.equal(run.code, 255, "authentication fails for nobody; the connection is made all the same");
    const closed = await waitFor(
      `close of ssh pid ${run.pid} (${source}); stderr: ${d.stderr()}`,
      started((e) => e.process?.pid === run.pid && e.event.action === "connection-closed"),
      20_000,
    );
    const mine = readEventFile(output).filter(
      (e) => e.ssh_outbound?.connection_id === closed.ssh_outbound.connection_id,
    );
    assert.deepEqual(
      mine.map((e) => e.event.action),
      ["connection-opened", "connection-closed"],
    );
    for (const e of mine) {
      assertValidEvent(e);
      assert.equal(e.process.name, "ssh");
      assert.equal(e.user.name, "nobody");
      assert.equal(e.ssh_outbound.attribution, "complete");
      assert.equal(e.ssh_outbound.target.host, "127.0.0.1");
      assert.equal(e.ssh_outbound.target.port, s.port);
      assert.equal(e.destination.port, s.port);
      assert.ok(e.ssh_outbound.ancestry.length >= 2, "ancestry is read");
    }
    assert.equal(statSync(output).mode & 0o777, 0o640, "the log file is created 0640");
  } finally {
    const code = await d.stop();
    assert.equal(code, 0, `exit code; stderr: ${d.stderr()}`);
  }
  const monitor = (action: string) => readEventFile(output).find((e) => e.event.action === action);
  assert.equal(monitor("monitor-started")?.ssh_outbound.monitor.source, source, "no fallback");
  const stats = monitor("monitor-stopped")?.ssh_outbound.monitor.stats;
  assert.equal(stats.source_fd_denied ?? 0, 0, "no /proc/PID/fd was denied");
  assert.equal(stats.pipeline_errors, 0);
  assert.ok(stats.state_saves >= 1, "the state file is written under the sandbox");
  assert.equal(stats.state_failures, 0);
}

test("under the unit's restrictions the procfs source attributes another user's ssh", async (t) => {
  if (!needs(t, ready, "root, sshd, ssh, unshare and setpriv are needed")) return;
  await sandboxedRun("procfs");
});

test("under the unit's restrictions the eBPF source (our probe) attributes another user's ssh", async (t) => {
  if (!needs(t, ready, "root, sshd, ssh, unshare and setpriv are needed")) return;
  const check = checkEbpf();
  if (!needs(t, check.ok, `eBPF source: ${check.ok ? "" : check.reason}`)) return;
  await sandboxedRun("ebpf");
});
