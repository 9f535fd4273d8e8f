import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, runCli, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { runClient, type SshRun } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// ControlMaster: one TCP connection, then every `ssh -S path host cmd` rides it through the master's
// unix socket and opens none. Each such run must be in the trail as an ssh-session record: who ran
// it, its typed target and remote command, and the id of the master's connection.

const ready = Boolean(SSHD) && hasCommand("ssh");
const ebpf = checkEbpf();
let sshd: TestSshd | undefined;

before(async () => {
  if (ready) sshd = await startSshd();
});

after(() => sshd?.stop());

for (const source of ["procfs", "ebpf"]) {
  test(`${source}: a master and 5 multiplexed runs → one connection and 5 ssh-session records`, async (t) => {
    if (!needs(t, ready, "sshd and ssh are needed")) return;
    if (source === "ebpf" && !needs(t, ebpf.ok, `the eBPF source cannot run: ${ebpf.ok ? "" : ebpf.reason}`))
      return;
    const s = sshd as TestSshd;
    const d: Daemon = startDaemon(["run", "--source", source, "--ports", String(s.port), "--interval", "20"]);
    try {
      await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started");
      const ctl = join(s.dir, `ctl-${source}`);
      // A master in the background with no session of its own (-f -N): Ansible's ControlPersist does
      // the same in effect.
      const master = await runClient(["-M", "-S", ctl, "-f", "-N", ...s.sshArgs]);
      assert.equal(master.code, 0, master.stderr);
      const opened = await d.waitFor(
        "the master's connection",
        (e) => e.event?.action === "connection-opened",
      );
      const runs: SshRun[] = [];
      for (let i = 0; i < 5; i++) {
        // Each session lasts long enough for a poll to see it (procfs polls every 20 ms here).
        const r = await runClient(["-S", ctl, ...s.sshArgs, `sleep 0.2; echo run${i}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), `run${i}`);
        runs.push(r);
      }
      // Tests share the host: only this master's sessions and this sshd's connections count.
      const mine = (e: Ev) => e.event?.action === "ssh-session" && e.ssh_outbound.control.path === ctl;
      await waitFor("5 ssh-session records", () => d.events.filter(mine).length >= 5, 15_000).catch(
        (e: Error) => {
          throw new Error(`${e.message}; stderr: ${d.stderr()}`);
        },
      );
      const exit = await runClient(["-S", ctl, "-O", "exit", ...s.sshArgs]);
      assert.equal(exit.code, 0, exit.stderr);
      await d.waitFor(
        "the master's close",
        (e) => e.event?.action === "connection-closed" && e.destination?.port === s.port,
      );
      assert.equal(await d.stop(), 0);
      const connections = d.events.filter(
        (e: Ev) => e.ssh_outbound?.connection_id !== undefined && e.destination?.port === s.port,
      );
      assert.deepEqual(
        connections.map((e) => e.event.action),
        ["connection-opened", "connection-closed"],
        "one connection: the master's",
      );
      const id = opened.ssh_outbound.connection_id;
      // The master says what it is: from its argv when opened, as found once sessions rode it at close.
      assert.deepEqual(opened.ssh_outbound.control, { master: true, path: ctl });
      assert.deepEqual(connections[1]?.ssh_outbound.control, { master: true, path: ctl });
      const ofRun = (e: Ev) => runs.some((r) => r.pid === e.process.pid);
      const sessions = d.events.filter(mine).filter(ofRun);
      assert.deepEqual(
        sessions.map((e) => e.process.pid),
        runs.map((r) => r.pid),
        "one ssh-session per run, in order",
      );
      // `ssh -O exit` rides the master too: reported like a session when its master is known (from
      // the listener, or from the cache of control paths), and nothing else is. It may be gone by the
      // time it is read from /proc: then only the kernel's word on it (pid, name) is there.
      for (const e of d.events.filter(mine).filter((e) => !ofRun(e))) {
        assert.equal(e.process.pid, exit.pid, JSON.stringify(e.process));
        if (e.ssh_outbound.target) assert.equal(e.ssh_outbound.target.control_command, "exit");
        else assert.equal(e.ssh_outbound.attribution, "partial");
      }
      for (const [i, e] of sessions.entries()) {
        assertValidEvent(e);
        assert.equal(e.ssh_outbound.via_connection_id, id);
        assert.equal(e.ssh_outbound.control.path, ctl);
        assert.equal(e.ssh_outbound.target.command, `sleep 0.2; echo run${i}`);
        assert.equal(e.ssh_outbound.target.host, "127.0.0.1");
        assert.equal(e.process.name, "ssh");
        assert.equal(e.user.name, s.user);
        assert.equal(e.process.parent.pid, process.pid);
        assert.ok(e.event.duration >= 200e6, `the session lasted its 0.2 s (${e.event.duration} ns)`);
        assert.notEqual(e.ssh_outbound.session_id, id);
      }
      const stopped = d.events.find((e: Ev) => e.event?.action === "monitor-stopped");
      assert.ok((stopped?.ssh_outbound.monitor.stats.sessions ?? 0) >= 5);
    } finally {
      await d.stop();
    }
  });
}

test("list shows a session riding a control master, with the master's connection", async (t) => {
  if (!needs(t, ready, "sshd and ssh are needed")) return;
  const s = sshd as TestSshd;
  const ctl = join(s.dir, "ctl-list");
  const master = await runClient(["-M", "-S", ctl, "-f", "-N", ...s.sshArgs]);
  assert.equal(master.code, 0, master.stderr);
  const run = runClient(["-S", ctl, ...s.sshArgs, "sleep 3"]);
  try {
    const listed = await waitFor(
      "the session in list --json",
      () => {
        const r = runCli(["list", "--json", "--ports", String(s.port)], {});
        const records: Ev[] = r.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l));
        const session = records.find(
          (e) => e.event.action === "ssh-session" && e.ssh_outbound.control.path === ctl,
        );
        const conn = records.find(
          (e) => e.event.action === "connection-opened" && e.ssh_outbound.control?.path === ctl,
        );
        return session && conn
          ? { session, conn, table: runCli(["list", "--ports", String(s.port)], {}).stdout }
          : undefined;
      },
      10_000,
    );
    assertValidEvent(listed.session);
    assert.equal(listed.session.ssh_outbound.via_connection_id, listed.conn.ssh_outbound.connection_id);
    assert.equal(listed.session.ssh_outbound.target.command, "sleep 3");
    assert.equal(listed.session.event.outcome, "unknown", "still running: no end");
    assert.match(listed.table, /via /);
  } finally {
    await run;
    await runClient(["-S", ctl, "-O", "exit", ...s.sshArgs]);
  }
});
