import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, runCli, startDaemon } from "../helpers/daemon.ts";
import { readTrail, waitStarted } from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { SSHD, startSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Fault: the daemon killed with SIGKILL (no monitor-stopped, no last state save) and started again,
// five times, while three real ssh sessions stay open. Each session must keep one id: one opened
// record, one closed record, and report must show three sessions.

const RESTARTS = 5;

function stateCount(path: string): number {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { connections: unknown[] }).connections.length;
  } catch {
    return -1;
  }
}

for (const source of ["procfs", "ebpf"] as const) {
  test(`kill -9 and restart ${RESTARTS} times with 3 ssh sessions open keeps each session's id (${source})`, async (t) => {
    if (!needs(t, IS_ROOT, "needs root to see every process's sockets")) return;
    if (!needs(t, Boolean(SSHD) && hasCommand("ssh"), "needs openssh-server and openssh-client")) return;
    if (source === "ebpf") {
      const c = checkEbpf();
      if (!needs(t, c.ok, `the eBPF source cannot run: ${c.reason}`)) return;
    }
    const dir = scratchDir(`sol-kill9-${source}-`);
    const log = join(dir, "log.log");
    const state = join(dir, "state.json");
    const sshd = await startSshd();
    const args = ["run", "--source", source, "--ports", String(sshd.port), "-o", log, "--state-file", state];
    const ofPort = () => readTrail([log]).events.filter((e) => e.destination?.port === sshd.port);
    let d: Daemon = startDaemon(args);
    const clients: ChildProcess[] = [];
    try {
      await waitStarted(log, 1, 60_000);
      for (let i = 0; i < 3; i++) {
        clients.push(spawn("ssh", [...sshd.sshArgs, "sleep 600"], { stdio: "ignore" }));
      }
      await waitFor(
        "three opened",
        () => ofPort().filter((e) => e.event.action === "connection-opened").length === 3,
        30_000,
      );
      for (let i = 0; i < RESTARTS; i++) {
        // The state file is saved within a second of a change; kill only once it holds the three.
        await waitFor("the state file holds the three sessions", () => stateCount(state) === 3, 10_000);
        const exited = new Promise((r) => d.child.once("exit", r));
        d.child.kill("SIGKILL");
        await exited;
        d = startDaemon(args);
        await waitStarted(log, i + 2, 60_000);
      }
      for (const c of clients) c.kill("SIGTERM");
      await waitFor(
        "three closed",
        () => ofPort().filter((e) => e.event.action === "connection-closed").length >= 3,
        30_000,
      );
      assert.equal(await d.stop(), 0);
    } finally {
      for (const c of clients) c.kill("SIGKILL");
      await d.stop();
      sshd.stop();
    }
    const { events, bad } = readTrail([log]);
    assert.deepEqual(bad, [], "no cut or garbled line, though the daemon was killed five times");
    const mine = events.filter((e) => e.destination?.port === sshd.port);
    const ids = new Map<string, string[]>();
    for (const e of mine) {
      const id = e.ssh_outbound.connection_id;
      ids.set(id, [...(ids.get(id) ?? []), e.event.action]);
    }
    assert.equal(ids.size, 3, `three ids, one per session: ${JSON.stringify([...ids])}`);
    for (const [id, actions] of ids) {
      assert.deepEqual(actions, ["connection-opened", "connection-closed"], `session ${id}`);
    }
    const starts = events.filter((e) => e.event.action === "monitor-started");
    assert.equal(starts.length, RESTARTS + 1);
    for (const s of starts.slice(1)) {
      assert.equal(s.ssh_outbound.monitor.continuity.resumed, 3, "each restart continued the three");
    }
    const report = runCli(["report", "--json", log]);
    assert.equal(report.code, 0, report.stderr);
    const sessions = report.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((s) => s.type === "session" && s.destPort === sshd.port);
    assert.equal(sessions.length, 3, report.stdout);
    assert.deepEqual(
      sessions.map((s) => s.status),
      ["closed", "closed", "closed"],
    );
  });
}
