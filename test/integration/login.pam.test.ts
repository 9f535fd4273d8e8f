import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { addTestUser, type TestUser } from "../helpers/users.ts";

// The login behind a connection, with Debian's real PAM stack (/etc/pam.d/sshd and /etc/pam.d/cron
// run pam_loginuid): a user logs in to our sshd with a key and runs ssh plainly, through sudo, inside
// a tmux server started in that login, and from a cron job; root logs in and runs ssh as the user
// through su. Each connection's record must name who logged in, the login's session and how it began,
// and for a login through sshd, the Community ID of the flow it came in on, which is the one in the
// record of the client that made that login (here the test's own ssh, logged by the same daemon).

const ALICE = "sol-login-alice";
const PAM = existsSync("/etc/pam.d/sshd") && readFileSync("/etc/pam.d/sshd", "utf8").includes("pam_loginuid");
const tools = ["ssh", "sudo", "su", "tmux", "cron", "useradd"].filter((c) => !hasCommand(c));
const ready = IS_ROOT && Boolean(SSHD) && PAM && tools.length === 0;
const ebpf = checkEbpf();
const SUDOERS = "/etc/sudoers.d/sol-login-test";
const CRON_FILE = "/etc/cron.d/sol-login-test";

let sshd: TestSshd | undefined;
let alice: TestUser | undefined;
let daemon: Daemon | undefined;
let cron: ChildProcess | undefined;

before(async () => {
  if (!ready || !ebpf.ok) return;
  sshd = await startSshd({ pam: { users: [ALICE] } });
  alice = addTestUser(ALICE, join(sshd.dir, "user"));
  writeFileSync(SUDOERS, `${ALICE} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  // eBPF: a short connection is caught by the kernel, not by a poll (see login.paths for both sources).
  daemon = startDaemon(["run", "--source", "ebpf", "--ports", String(sshd.port)]);
  await daemon.waitFor("monitor-started", (e) => e.event?.action === "monitor-started");
});

after(async () => {
  if (daemon) assert.equal(await daemon.stop(), 0, daemon.stderr());
  cron?.kill();
  rmSync(CRON_FILE, { force: true });
  rmSync(SUDOERS, { force: true });
  alice?.remove();
  sshd?.stop();
});

function canRun(t: TestContext): boolean {
  const why = !IS_ROOT
    ? "root is needed (a test user, sudoers, a PAM sshd)"
    : !PAM
      ? "Debian's /etc/pam.d/sshd with pam_loginuid is needed"
      : `missing: ${[...tools, SSHD ? "" : "sshd"].filter(Boolean).join(", ")}`;
  if (!needs(t, ready, why)) return false;
  return needs(t, ebpf.ok, `the eBPF source cannot run: ${ebpf.ok ? "" : ebpf.reason}`);
}

/** An ssh command line, as a shell would read it, to our sshd as `user` with the test key at `key`. */
function sshLine(s: TestSshd, key: string, user: string, command: string): string {
  return [
    "ssh",
    "-i",
    key,
    "-p",
    String(s.port),
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
    `${user}@127.0.0.1`,
    `'${command}'`,
  ].join(" ");
}

/** The test's own ssh logs in as `user` and runs `command` there; resolves with its pid once it exited 0. */
async function login(s: TestSshd, user: string, command: string): Promise<number> {
  const args = [...s.sshArgs.slice(0, -1), `${user}@127.0.0.1`, command];
  const r = await runClient(args);
  assert.equal(r.code, 0, `ssh as ${user} ran ${command}: ${r.stderr}`);
  return r.pid;
}

/** The closed record of the connection whose typed remote command is `marker`. */
const closedWith = (d: Daemon, marker: string): Promise<Ev> =>
  d.waitFor(
    `the closed record of the ssh running ${marker}`,
    (e) => e.event?.action === "connection-closed" && e.ssh_outbound?.target?.command === marker,
    30_000,
  );

/** The record of the test's own client (pid), whose flow is the login's. */
const clientRecord = (d: Daemon, pid: number): Promise<Ev> =>
  d.waitFor(
    `the record of the logging-in client ${pid}`,
    (e) => e.event?.action === "connection-closed" && e.process?.pid === pid,
    30_000,
  );

/** The login part common to every case through sshd: user, session, entry, and the flow it came in on. */
async function assertSshdLogin(d: Daemon, rec: Ev, loginUser: string, clientPid: number): Promise<void> {
  assertValidEvent(rec);
  const l = rec.ssh_outbound.login;
  assert.equal(l.user.name, loginUser, JSON.stringify(l));
  assert.equal(l.entry, "sshd");
  assert.ok(Number.isInteger(l.session_id), "the audit session");
  assert.equal(rec.process.entry_leader.entry_meta.type, "sshd");
  assert.equal(rec.process.entry_leader.entry_meta.source.ip, "127.0.0.1");
  const client = await clientRecord(d, clientPid);
  assert.equal(l.source.port, client.source.port, "the login came from the test's client");
  assert.equal(l.community_id, client.network.community_id, "the same flow, seen from both ends");
}

test("ssh in a login: the login user, its session and sshd entry, the inbound flow's Community ID", async (t) => {
  if (!canRun(t) || !sshd || !alice || !daemon) return;
  const marker = "true plain";
  const pid = await login(sshd, ALICE, sshLine(sshd, alice.key, ALICE, marker));
  const rec = await closedWith(daemon, marker);
  await assertSshdLogin(daemon, rec, ALICE, pid);
  assert.equal(rec.process.user.name, ALICE);
  assert.equal(rec.ssh_outbound.user_changes, undefined, "no change of user");
  assert.equal(rec.process.entry_leader.real_user.name, ALICE, "the login's shell");
  assert.equal(rec.process.session_leader.pid, rec.process.entry_leader.pid, "the shell leads its session");
});

test("sudo ssh: the process runs as root, the login is still the user's, and the change says sudo", async (t) => {
  if (!canRun(t) || !sshd || !alice || !daemon) return;
  const marker = "true sudo";
  const pid = await login(sshd, ALICE, `sudo ${sshLine(sshd, alice.key, "root", marker)}`);
  const rec = await closedWith(daemon, marker);
  await assertSshdLogin(daemon, rec, ALICE, pid);
  assert.equal(rec.process.real_user.name, "root");
  assert.deepEqual(
    rec.ssh_outbound.user_changes.map((c: Ev) => [c.from, c.to, c.via]),
    [[ALICE, "root", "sudo"]],
  );
});

test("su -c ssh from a root login: the login is root's, the process the user's, the change says su", async (t) => {
  if (!canRun(t) || !sshd || !alice || !daemon) return;
  const marker = "true su";
  const inner = sshLine(sshd, alice.key, ALICE, marker);
  const pid = await login(sshd, "root", `su -c ${JSON.stringify(inner)} ${ALICE}`);
  const rec = await closedWith(daemon, marker);
  await assertSshdLogin(daemon, rec, "root", pid);
  assert.equal(rec.process.real_user.name, ALICE);
  assert.deepEqual(
    rec.ssh_outbound.user_changes.map((c: Ev) => [c.from, c.to, c.via]),
    [["root", ALICE, "su"]],
  );
});

test("ssh in a tmux server the login started: not in its ancestry, the login is still found", async (t) => {
  if (!canRun(t) || !sshd || !alice || !daemon) return;
  const marker = "true tmux";
  const sock = join(alice.home, "tmux.sock");
  // The login starts a tmux server (it daemonizes: its parent becomes init) whose window runs ssh,
  // and stays logged in until that window has ended.
  const inner = sshLine(sshd, alice.key, ALICE, marker);
  const pid = await login(
    sshd,
    ALICE,
    `tmux -S ${sock} new-session -d ${JSON.stringify(inner)} && while tmux -S ${sock} has-session 2>/dev/null; do sleep 0.1; done`,
  );
  const rec = await closedWith(daemon, marker);
  await assertSshdLogin(daemon, rec, ALICE, pid);
  const names = rec.ssh_outbound.ancestry.map((a: Ev) => a.name);
  assert.ok(names.includes("tmux: server"), `tmux's server is the parent's parent: ${names.join(">")}`);
  assert.ok(!names.includes("sshd"), "the login's processes are not in the ancestry");
  assert.equal(rec.process.entry_leader.name, "bash", "the login's shell, found outside the ancestry");
  // tmux runs the window's command as its session's leader: said, not written twice.
  assert.deepEqual(rec.process.session_leader, { pid: rec.process.pid, same_as_process: true });
});

test("a cron job's ssh: the job's user, its own session, entry cron", async (t) => {
  if (!canRun(t) || !sshd || !alice || !daemon) return;
  const marker = "true cron";
  // Debian's cron runs /etc/cron.d's jobs through PAM (/etc/pam.d/cron: pam_loginuid): each job is a
  // login of its user. The job runs at the next minute's start.
  writeFileSync(
    CRON_FILE,
    `* * * * * ${ALICE} ${sshLine(sshd, alice.key, ALICE, marker)} >/dev/null 2>&1\n`,
    { mode: 0o644 },
  );
  cron = spawn("cron", ["-f"], { stdio: "ignore" });
  const rec = await daemon.waitFor(
    "the cron job's ssh (it runs at the start of the next minute)",
    (e) => e.event?.action === "connection-closed" && e.ssh_outbound?.target?.command === marker,
    75_000,
  );
  rmSync(CRON_FILE, { force: true });
  assertValidEvent(rec);
  const l = rec.ssh_outbound.login;
  assert.equal(l.user.name, ALICE);
  assert.equal(l.entry, "cron");
  assert.ok(Number.isInteger(l.session_id));
  assert.equal(l.source, undefined, "a cron job came from no address");
  assert.equal(rec.process.entry_leader.entry_meta.type, "init");
  assert.equal(rec.process.user.name, ALICE);
});
