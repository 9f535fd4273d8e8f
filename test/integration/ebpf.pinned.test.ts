import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { ourPrograms, privateBpffs } from "../helpers/bpffs.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { CLI, type Daemon, type Ev, startDaemon } from "../helpers/daemon.ts";
import { plainListener, readTrail, stoppedStats, waitStarted } from "../helpers/load.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { runClient } from "../helpers/ssh.ts";
import { sshPeers } from "../helpers/ssh-peers.ts";
import { freePort, SSHD, startSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Issue 21: no blind window. The probe stays pinned in the kernel while the daemon is down, and the next
// daemon writes what came meanwhile; the eBPF source runs without tracefs.

const ebpf = checkEbpf();
const ready = (t: import("node:test").TestContext): boolean =>
  needs(t, IS_ROOT, "needs root (BPF, bpffs)") &&
  needs(t, Boolean(SSHD) && hasCommand("ssh"), "needs openssh-server and openssh-client") &&
  needs(t, ebpf.ok, `the eBPF source cannot run: ${ebpf.reason}`);

/** A connect to `port` that completes, then closed by us. */
function rawConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.on("error", reject);
    s.on("connect", () => {
      s.end();
      s.on("close", () => resolve());
    });
  });
}

function stateCount(path: string): number {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { connections: unknown[] }).connections.length;
  } catch {
    return -1;
  }
}

async function kill9(d: Daemon): Promise<void> {
  const exited = new Promise((r) => d.child.once("exit", r));
  d.child.kill("SIGKILL");
  await exited;
}

const byId = (events: readonly Ev[]): Map<string, Ev[]> => {
  const out = new Map<string, Ev[]>();
  for (const e of events) {
    const id = e.ssh_outbound?.connection_id;
    if (id) out.set(id, [...(out.get(id) ?? []), e]);
  }
  return out;
};

test("kill -9, 5 s down: the 50 connects and 3 ssh sessions made meanwhile are in the trail, and a session open across keeps its id", async (t) => {
  if (!ready(t)) return;
  const { pin } = privateBpffs(t);
  const dir = scratchDir("sol-pinned-");
  const log = join(dir, "log.log");
  const state = join(dir, "state.json");
  const sshd = await startSshd();
  const raw = await plainListener();
  const args = [
    "run",
    "--source",
    "ebpf",
    "--ports",
    `${sshd.port},${raw.port}`,
    "-o",
    log,
    "--state-file",
    state,
    "--pin",
    pin,
    "--user-rate",
    "0",
  ];
  const trail = () => readTrail([log]).events;
  const before = new Set(ourPrograms());
  let d = startDaemon(args);
  let held: ChildProcess | undefined;
  let peers = 0;
  try {
    await waitStarted(log, 1, 60_000);
    held = spawn("ssh", [...sshd.sshArgs, "sleep 600"], { stdio: "ignore" });
    await waitFor(
      "the held session opened",
      () => trail().some((e) => e.event.action === "connection-opened" && e.destination?.port === sshd.port),
      30_000,
    );
    await waitFor("the state file holds it", () => stateCount(state) === 1, 10_000);
    await kill9(d);
    const downAt = Date.now();
    assert.equal(
      ourPrograms().filter((id) => !before.has(id)).length,
      1,
      "the pinned program outlives the daemon killed with SIGKILL",
    );
    for (let i = 0; i < 50; i++) await rawConnect(raw.port);
    const gap = [];
    for (let i = 0; i < 2; i++) gap.push(await runClient([...sshd.sshArgs, "true"]));
    // The third as a login's (its loginuid set, as pam_loginuid would): the probe keeps that too.
    const asLogin = ["sh", "-c", 'echo 4242 > /proc/self/loginuid && exec "$@"', "sh"];
    gap.push(await runClient([...sshd.sshArgs, "true"], { prefix: asLogin }));
    assert.deepEqual(
      gap.map((r) => r.code),
      [0, 0, 0],
      gap.map((r) => r.stderr).join("\n"),
    );
    // SSH on a port nobody listed, recognised by its protocol by the programs the dead daemon left.
    peers = sshPeers(await freePort(), "client").pid;
    // The outage lasts 5 s, as in the measurement.
    const left = 5000 - (Date.now() - downAt);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    d = startDaemon(args);
    await waitStarted(log, 2, 60_000);
    const whileDown = () => trail().filter((e) => e.ssh_outbound?.observed === "while-down");
    await waitFor(
      "the 54 connections of the gap closed in the trail",
      () => whileDown().filter((e) => e.event.action === "connection-closed").length >= 54,
      30_000,
    );
    held.kill("SIGTERM");
    await waitFor(
      "the held session closed",
      () =>
        trail().filter((e) => e.event.action === "connection-closed" && e.destination?.port === sshd.port)
          .length >= 4,
      30_000,
    );
    assert.equal(await d.stop(), 0);
  } finally {
    held?.kill("SIGKILL");
    await d.stop();
    await raw.close();
    sshd.stop();
  }
  const events = trail();
  const starts = events.filter((e) => e.event.action === "monitor-started");
  assert.equal(starts.length, 2);
  const restart = starts[1] as Ev;
  assert.match(restart.ssh_outbound.monitor.reason, /taken over from the last run/);
  const restartedAt = Date.parse(restart["@timestamp"]);

  const rawIds = byId(events.filter((e) => e.destination?.port === raw.port));
  assert.equal(rawIds.size, 50, "each of the 50 connects made while the daemon was down");
  for (const [id, evs] of rawIds) {
    assert.deepEqual(
      evs.map((e) => `${e.event.action} ${e.ssh_outbound.observed}`),
      ["connection-opened while-down", "connection-closed while-down"],
      id,
    );
    // The kernel's times: before the daemon was back.
    assert.ok(Date.parse((evs[1] as Ev)["@timestamp"]) < restartedAt, `${id} closed before the restart`);
  }

  const sshIds = byId(events.filter((e) => e.destination?.port === sshd.port));
  const gapSessions = [...sshIds.values()].filter((evs) => evs[0]?.ssh_outbound.observed === "while-down");
  assert.equal(gapSessions.length, 3, "the three ssh sessions made while the daemon was down");
  for (const evs of gapSessions) {
    assert.deepEqual(
      evs.map((e) => e.event.action),
      ["connection-opened", "connection-closed"],
    );
    const closed = evs[1] as Ev;
    // Gone long before the daemon was back: what the probe kept of its exec.
    assert.equal(closed.ssh_outbound.attribution, "kept", JSON.stringify(closed));
    assert.equal(closed.process.name, "ssh");
    assert.equal(typeof closed.process.pid, "number");
    assert.equal(closed.process.args.at(-1), "true", "its argv");
    assert.equal(closed.process.executable, "/usr/bin/ssh");
    assert.equal(closed.user.name, "root");
    assert.equal(closed.ssh_outbound.target.host, "127.0.0.1", "its typed target");
    assert.equal(closed.ssh_outbound.target.port, sshd.port);
    assert.equal(closed.process.parent.pid, process.pid, "its parent, this test, alive: from /proc");
    assert.ok(closed.ssh_outbound.ancestry.length > 0, "its ancestry");
    assert.ok(closed.source.bytes > 0, "byte counts from the kernel");
  }
  // The login the kernel kept at exec, for the one run as a login's: its user and audit session.
  const logins = gapSessions.map((evs) => (evs[1] as Ev).ssh_outbound.login);
  const ofLogin = logins.filter((l) => l?.user?.id === "4242");
  assert.equal(ofLogin.length, 1, JSON.stringify(logins));
  assert.ok(Number.isInteger(ofLogin[0].session_id), "its audit session");
  const byProtocol = events.filter((e) => e.process?.pid === peers);
  assert.deepEqual(
    byProtocol.map((e) => [e.event.action, e.ssh_outbound.observed, e.ssh_outbound.detected_by]),
    [
      ["connection-opened", "while-down", "protocol"],
      ["connection-closed", "while-down", "protocol"],
    ],
    "recognised by its protocol while no daemon ran",
  );
  assert.equal(byProtocol[1]?.ssh_outbound.server_banner, "SSH-2.0-HandMade_Server");
  const across = [...sshIds.values()].filter((evs) => evs[0]?.ssh_outbound.observed === "live");
  assert.equal(across.length, 1, "the session open across the restart");
  assert.deepEqual(
    across[0]?.map((e) => e.event.action),
    ["connection-opened", "connection-closed"],
    "one id: opened before the kill, closed after the restart",
  );
});

test("a ring buffer that overflows while the daemon is down: the loss is one events-lost record with the exact count", async (t) => {
  if (!ready(t) || !needs(t, hasCommand("python3"), "needs python3")) return;
  const { pin } = privateBpffs(t);
  const dir = scratchDir("sol-pinned-loss-");
  const log = join(dir, "log.log");
  const refused = await plainListener();
  const port = refused.port;
  await refused.close();
  const args = [
    "run",
    "--source",
    "ebpf",
    "--ports",
    String(port),
    "-o",
    log,
    "--pin",
    pin,
    "--user-rate",
    "0",
  ];
  let d = startDaemon(args);
  const N = 20_000;
  try {
    await waitStarted(log, 1, 60_000);
    await kill9(d);
    // Each refused connect is two records (connect, close); 20,000 of them do not fit in the 4 MiB ring.
    const attack = spawn(
      "python3",
      [
        "-c",
        `import socket
for i in range(${N}):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", ${port}))
    except ConnectionRefusedError:
        pass
    s.close()`,
      ],
      { stdio: "ignore" },
    );
    const code = await new Promise((r) => attack.once("exit", r));
    assert.equal(code, 0);
    d = startDaemon(args);
    await waitStarted(log, 2, 60_000);
    await waitFor(
      "an events-lost record",
      () => readTrail([log]).events.some((e) => e.event.action === "events-lost"),
      30_000,
    );
    assert.equal(await d.stop(), 0);
  } finally {
    await d.stop();
  }
  const events = readTrail([log]).events;
  const lost = events.filter((e) => e.event.action === "events-lost");
  assert.equal(lost.length, 1, JSON.stringify(lost));
  const lostRecord = lost[0] as Ev;
  const loss = lostRecord.ssh_outbound.monitor.lost;
  assert.equal(loss.stage, "ring-buffer");
  const starts = events.filter((e) => e.event.action === "monitor-started");
  // The interval runs from the last daemon's last look (at most a second before it was killed).
  assert.ok(
    Date.parse(lostRecord.event.start) < Date.parse((starts[1] as Ev)["@timestamp"]),
    "the loss began before the restart",
  );
  // Every record the program made is either read or counted: 2 per connect.
  const stats = stoppedStats(events);
  const read = stats.source_while_down ?? 0;
  assert.equal(loss.count + read, 2 * N, JSON.stringify({ loss, stats }));
  assert.ok(loss.count > 0 && read > 20_000, JSON.stringify({ loss, stats }));
});

test("the eBPF source runs in a mount namespace without tracefs (tp_btf)", async (t) => {
  if (!ready(t) || !needs(t, hasCommand("unshare"), "needs unshare (util-linux)")) return;
  const sshd = await startSshd();
  // tracefs (and debugfs, which can hold it) unmounted in a namespace of the daemon's own; the daemon
  // refuses to start if it is still there.
  const bare = [
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    'umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; if grep -q " - tracefs " /proc/self/mountinfo; then echo "tracefs still mounted" >&2; exit 97; fi; exec "$@"',
    "sh",
    process.execPath,
    "--import",
    "tsx",
  ];
  const d = startDaemon(
    ["run", "--source", "ebpf", "--ports", String(sshd.port), "--format", "json", "--pin", "none"],
    {
      runtime: bare,
      script: CLI,
    },
  );
  try {
    const started = await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started", 60_000);
    assert.match(JSON.stringify(started), /tp_btf\/inet_sock_set_state/);
    const r = await runClient([...sshd.sshArgs, "true"]);
    assert.equal(r.code, 0, r.stderr);
    const closed = await d.waitFor(
      "the session's close",
      (e) => e.event?.action === "connection-closed" && e.destination?.port === sshd.port,
      30_000,
    );
    assert.equal(closed.process.name, "ssh");
    assert.equal(closed.ssh_outbound.attribution, "complete");
    assert.equal(await d.stop(), 0);
  } finally {
    await d.stop();
    sshd.stop();
  }
});

test("a second daemon on the same pin runs a probe of its own and leaves the first one's alone", async (t) => {
  if (!ready(t)) return;
  const { pin } = privateBpffs(t);
  const raw = await plainListener();
  const args = ["run", "--source", "ebpf", "--ports", String(raw.port), "--format", "json", "--pin", pin];
  const first = startDaemon(args);
  let second: Daemon | undefined;
  try {
    await first.waitFor("the first's monitor-started", (e) => e.event?.action === "monitor-started", 60_000);
    second = startDaemon(args);
    const started = await second.waitFor(
      "the second's monitor-started",
      (e) => e.event?.action === "monitor-started",
      60_000,
    );
    assert.doesNotMatch(started.ssh_outbound.monitor.reason, /pinned/);
    assert.match(second.stderr(), /another daemon \(pid \d+\) reads the probe pinned there/);
    assert.equal(await second.stop(), 0);
    // The first still reads its pinned probe: a connect now is in its trail.
    await rawConnect(raw.port);
    await first.waitFor(
      "the connect, in the first daemon's trail",
      (e) => e.event?.action === "connection-closed" && e.destination?.port === raw.port,
      15_000,
    );
    assert.equal(await first.stop(), 0);
  } finally {
    await second?.stop();
    await first.stop();
    await raw.close();
  }
});

/** The id of the connection program that the probe pinned under `pin` has attached. */
function pinnedProgram(pin: string): number {
  const link = JSON.parse(
    execFileSync("bpftool", ["-j", "link", "show", "pinned", `${pin}/link_on_state_btf`], {
      encoding: "utf8",
    }),
  ) as { prog_id: number };
  return link.prog_id;
}

/** Makes the probe pinned under `pin` look like another version's: its notes get another object hash. */
function markOtherVersion(pin: string): void {
  const got = JSON.parse(
    execFileSync(
      "bpftool",
      ["-j", "map", "lookup", "pinned", `${pin}/meta`, "key", "hex", "00", "00", "00", "00"],
      {
        encoding: "utf8",
      },
    ),
  ) as { value: string[] };
  const value = got.value.map((b) => b.replace(/^0x/, ""));
  // object_hash is the first 8 bytes (native/probe.h struct probe_meta).
  for (let i = 0; i < 8; i++)
    value[i] = (Number.parseInt(value[i] as string, 16) ^ 0xff).toString(16).padStart(2, "0");
  execFileSync("bpftool", [
    "map",
    "update",
    "pinned",
    `${pin}/meta`,
    "key",
    "hex",
    "00",
    "00",
    "00",
    "00",
    "value",
    "hex",
    ...value,
  ]);
}

test("a probe pinned by another version is drained, then replaced: what it caught while no daemon ran is in the trail", async (t) => {
  if (!ready(t) || !needs(t, hasCommand("bpftool"), "needs bpftool")) return;
  const { pin } = privateBpffs(t);
  const dir = scratchDir("sol-pinned-replace-");
  const log = join(dir, "log.log");
  const raw = await plainListener();
  const args = ["run", "--source", "ebpf", "--ports", String(raw.port), "-o", log, "--pin", pin];
  let d = startDaemon(args);
  try {
    await waitStarted(log, 1, 60_000);
    assert.equal(await d.stop(), 0);
    // Its own program, as its pinned link names it (not every probe on the host: another may run).
    const before = pinnedProgram(pin);
    markOtherVersion(pin);
    for (let i = 0; i < 10; i++) await rawConnect(raw.port);
    d = startDaemon(args);
    await waitStarted(log, 2, 60_000);
    await waitFor(
      "the 10 connects made while no daemon ran",
      () =>
        readTrail([log]).events.filter(
          (e) => e.ssh_outbound?.observed === "while-down" && e.event.action === "connection-closed",
        ).length >= 10,
      30_000,
    );
    // The replaced probe's program is gone (its links were unpinned, nothing else held it).
    assert.equal(
      ourPrograms().filter((id) => id === before).length,
      0,
      "the replaced probe's program is unloaded",
    );
    assert.equal(await d.stop(), 0);
  } finally {
    await d.stop();
    await raw.close();
  }
  const events = readTrail([log]).events;
  const restart = events.filter((e) => e.event.action === "monitor-started")[1] as Ev;
  assert.match(restart.ssh_outbound.monitor.reason, /pinned in place of another version's probe/);
  const gap = events.filter((e) => e.ssh_outbound?.observed === "while-down");
  assert.equal(new Set(gap.map((e) => e.ssh_outbound.connection_id)).size, 10);
  assert.equal(gap.filter((e) => e.event.action === "connection-closed").length, 10);
});
