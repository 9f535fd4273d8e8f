import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, readEventFile, runCli, startDaemon } from "../helpers/daemon.ts";
import { link, startHost, type TestHost } from "../helpers/hosts.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { addTestUser, type TestUser } from "../helpers/users.ts";
import { waitFor } from "../helpers/wait.ts";

// Three hosts, each its own network namespace with its own hostname and machine id, its own sshd (PAM)
// and its own daemons (procfs and eBPF, each logging only its namespace, --netns own, to a file of its
// own: what a fleet's collector would hold). A user logs in to A, goes on to B with ssh, and there runs
// `sudo ssh` to C. `report --paths` over the three hosts' trails must print that one path, with the
// users at each hop, for each source.

const ALICE = "sol-paths-alice";
const PAM_SSHD = existsSync("/etc/pam.d/sshd");
const missing = ["ssh", "sudo", "unshare", "nsenter", "ip", "useradd"].filter((c) => !hasCommand(c));
const ready = IS_ROOT && Boolean(SSHD) && PAM_SSHD && missing.length === 0;
const ebpf = checkEbpf();
const SUDOERS = "/etc/sudoers.d/sol-paths-test";
const SOURCES = ["procfs", "ebpf"] as const;
const IP = { a: "10.231.1.1", b: "10.231.1.2", bc: "10.231.2.2", c: "10.231.2.3" };

let dir = "";
let alice: TestUser | undefined;
const hosts: TestHost[] = [];
const sshds: TestSshd[] = [];
const daemons: Daemon[] = [];
/** Each source's directory of trails, one file per host: a collector's. */
const trail = (source: string, host: string) => join(dir, source, `${host}.log`);

before(async () => {
  if (!ready || !ebpf.ok) return;
  dir = scratchDir("sol-paths-");
  for (const s of SOURCES) mkdirSync(join(dir, s));
  chmodSync(dir, 0o755);
  for (const name of ["sol-a", "sol-b", "sol-c"]) hosts.push(await startHost(name, dir));
  const [a, b, c] = hosts as [TestHost, TestHost, TestHost];
  link(a, IP.a, b, IP.b);
  link(b, IP.bc, c, IP.c);
  for (const h of hosts) {
    sshds.push(await startSshd({ pam: { users: [ALICE] }, netnsExec: h.exec, address: "0.0.0.0", port: 22 }));
  }
  // One key lets the user (and root, for the sudo hop) in everywhere: A's, put on B's and C's servers.
  const key = join((sshds[0] as TestSshd).dir, "user");
  for (const s of sshds.slice(1)) {
    for (const u of [ALICE, "root"]) copyFileSync(`${key}.pub`, join(s.dir, "keys", u));
  }
  alice = addTestUser(ALICE, key);
  writeFileSync(SUDOERS, `${ALICE} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  for (const h of hosts) {
    for (const source of SOURCES) {
      const d = startDaemon(
        [
          "run",
          "--source",
          source,
          "--ports",
          "22",
          "--netns",
          "own",
          "--interval",
          "20",
          "-o",
          trail(source, h.name),
        ],
        { runtime: [...h.exec, process.execPath, "--import", "tsx"] },
      );
      daemons.push(d);
      await waitFor(
        `${source} on ${h.name} started (${d.stderr()})`,
        () => readEventFile(trail(source, h.name)).some((e) => e.event?.action === "monitor-started"),
        30_000,
      );
    }
  }
});

after(async () => {
  for (const d of daemons) await d.stop();
  rmSync(SUDOERS, { force: true });
  for (const s of sshds) s.stop();
  for (const h of hosts) h.stop();
  alice?.remove();
});

const OPTS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR";

/** A shell script in the shared file system, run on whichever host runs it. */
function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

const connections = (source: string, host: string, action: string): Ev[] =>
  readEventFile(trail(source, host)).filter((e) => e.event?.action === action);

test("A → B → sudo → C: report --paths over the three hosts' trails prints the one path, both sources", async (t) => {
  if (!needs(t, ready, `root, a PAM sshd and ${missing.join(", ") || "sshd"} are needed`)) return;
  if (!needs(t, ebpf.ok, `the eBPF source cannot run: ${ebpf.ok ? "" : ebpf.reason}`)) return;
  if (!alice) throw new Error("no test user");
  const flag = join(dir, "done");
  // Each hop stays connected until the test has seen every connection opened (a poll is not raced).
  const wait = script("wait.sh", `while [ ! -e ${flag} ]; do sleep 0.1; done`);
  const toC = script(
    "to-c.sh",
    `exec sudo ssh -i ${alice.key} ${OPTS} -o HostName=${IP.c} root@sol-c ${wait}`,
  );
  const toB = script("to-b.sh", `exec ssh -i ${alice.key} ${OPTS} ${ALICE}@${IP.b} ${toC}`);
  const [a] = hosts as [TestHost];
  const run = runClient([...OPTS.split(" "), "-i", alice.key, `${ALICE}@127.0.0.1`, toB], { prefix: a.exec });
  let ended: { code: number | null; stderr: string } | undefined;
  void run.then((r) => {
    ended = r;
  });
  for (const source of SOURCES) {
    await waitFor(
      `${source}: the three connections opened (A's own login, A → B, B → C)`,
      () => {
        if (ended) throw new Error(`the ssh chain ended early (${ended.code}): ${ended.stderr}`);
        return (
          connections(source, "sol-a", "connection-opened").length === 2 &&
          connections(source, "sol-b", "connection-opened").length === 1
        );
      },
      60_000,
    );
  }
  writeFileSync(flag, "");
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  for (const source of SOURCES) {
    await waitFor(
      `${source}: the three connections closed`,
      () =>
        connections(source, "sol-a", "connection-closed").length === 2 &&
        connections(source, "sol-b", "connection-closed").length === 1,
      30_000,
    );
  }
  for (const source of SOURCES) {
    await t.test(source, () => {
      const [toBRecord] = connections(source, "sol-a", "connection-closed").filter(
        (e) => e.destination.ip === IP.b,
      ) as [Ev];
      const [toCRecord] = connections(source, "sol-b", "connection-closed") as [Ev];
      for (const e of [toBRecord, toCRecord]) assertValidEvent(e);
      // B's login came in on the flow A wrote for its connection to B.
      assert.equal(toCRecord.ssh_outbound.login.community_id, toBRecord.network.community_id);
      assert.equal(toCRecord.ssh_outbound.login.user.name, ALICE);
      assert.equal(toCRecord.host.hostname, "sol-b");
      assert.notEqual(toCRecord.host.id, toBRecord.host.id, "each host its own machine id");
      assert.equal(connections(source, "sol-c", "connection-opened").length, 0, "C went nowhere");

      const text = runCli(["report", "--paths", join(dir, source)]);
      assert.equal(text.code, 0, text.stderr);
      const lines = text.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 1, text.stdout);
      assert.match(
        lines[0] as string,
        new RegExp(`  root sol-a → sol-a \\(${ALICE}\\) → sol-b \\(${ALICE}\\) → sol-c \\(root via sudo\\)$`),
      );
      const json = runCli(["report", "--paths", "--json", join(dir, source)]);
      const path = JSON.parse(json.stdout) as Ev;
      assert.deepEqual(path.users, ["root", ALICE, ALICE, "root"]);
      assert.deepEqual(
        path.hops.map((h: Ev) => [h.host, h.user, h.login, h.via]),
        [
          ["sol-a", "root", undefined, undefined],
          ["sol-a", ALICE, ALICE, undefined],
          ["sol-b", "root", ALICE, "sudo"],
        ],
      );
      assert.equal(path.connectionIds[2], toCRecord.ssh_outbound.connection_id);
    });
  }
});
