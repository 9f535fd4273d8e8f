import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, ROOT, readEventFile, runCli, startDaemon } from "../helpers/daemon.ts";
import { closeHoles, collected, fleetConfigs, hasRelp } from "../helpers/fleet.ts";
import { type Rsyslogd, startRsyslogd } from "../helpers/rsyslogd.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { logrotateConfig, trailLines } from "../helpers/shipped.ts";
import { runClient } from "../helpers/ssh.ts";
import { freePort, SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";
import { startCollector as startCollectorAt } from "../helpers/writer-fleet.ts";

// The shipped rsyslog sender and collector configs, run by two real rsyslogd (Debian's, with
// rsyslog-relp), carry the trails of two hosts: each host is a network namespace with its own sshd and
// ssh clients, and a daemon in a UTS namespace of its own (its own host name) with its own machine id
// (bind-mounted over /etc/machine-id in a mount namespace). In the middle the collector is stopped for
// 20 s; meanwhile the sender is restarted and logrotate rotates one host's file twice.
const ready =
  IS_ROOT &&
  Boolean(SSHD) &&
  hasCommand("rsyslogd") &&
  hasCommand("logrotate") &&
  hasCommand("unshare") &&
  hasCommand("nsenter") &&
  hasRelp();
const OUTAGE_MS = 20_000;
// 40,000 control characters of argv, each written \u0001: a record of about 245 KB, near the bound.
const BIG_ARG = "\x01".repeat(40_000);

/**
 * A host: network, pid, UTS and mount namespaces of its own, held by a `sleep` as its pid 1, with its
 * own host name and machine id. Its daemon, its ssh clients and its logrotate run inside all four (the
 * daemon sees only the host's processes and sockets, and logrotate signals the pid its pid file names);
 * its sshd shares only the network.
 */
interface Host {
  name: string;
  id: string;
  dir: string;
  /** The host's pid 1 as this test sees it: killing it ends everything in the host. */
  initPid: number;
  /** nsenter's arguments that run a command in the host. */
  inside: string[];
  sshd: TestSshd;
  daemon: Daemon;
  /** The daemon's pid as this test sees it (nsenter forks it, and does not pass signals on). */
  daemonPid: number;
  runs: number;
}

const hosts: Host[] = [];
const daemons: Rsyslogd[] = [];

after(async () => {
  for (const h of hosts) {
    await stopDaemon(h);
    h.sshd.stop();
    // unshare --fork ignores SIGTERM while it waits; the host's pid 1 takes every process with it.
    try {
      process.kill(h.initPid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const r of daemons) await r.stop();
});

/** The first child of a process, once it has one. */
function childOf(pid: number): Promise<number> {
  return waitFor(
    `a child of ${pid}`,
    () => {
      try {
        return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0]);
      } catch {
        return undefined;
      }
    },
    10_000,
  );
}

async function startHost(root: string, name: string, id: string): Promise<Host> {
  const dir = join(root, name);
  execFileSync("install", ["-d", "-m", "0755", dir]);
  writeFileSync(join(dir, "machine-id"), `${id}\n`);
  const init = spawn(
    "unshare",
    [
      ...["--net", "--pid", "--fork", "--kill-child", "--uts", "--mount", "--mount-proc", "sh", "-c"],
      `ip link set lo up && hostname ${name} && mount --bind ${join(dir, "machine-id")} /etc/machine-id && exec sleep infinity`,
    ],
    { stdio: "ignore" },
  );
  const initPid = await childOf(init.pid as number);
  await waitFor(
    `${name}'s pid 1 ready`,
    () => readFileSync(`/proc/${initPid}/comm`, "utf8") === "sleep\n",
    10_000,
  );
  const inside = ["nsenter", "-t", String(initPid), "-n", "-p", "-u", "-m", `--wd=${ROOT}`];
  const sshd = await startSshd({ netnsExec: ["nsenter", "-t", String(initPid), "-n"] });
  const daemon = startDaemon(
    [
      ...["run", "--source", "procfs", "--interval", "20", "--stats-interval", "0"],
      ...["--output", join(dir, "log.log"), "--pid-file", join(dir, "daemon.pid")],
      ...["--ports", String(sshd.port)],
    ],
    { runtime: [...inside, process.execPath, "--import", "tsx"] },
  );
  const h: Host = { name, id, dir, initPid, inside, sshd, daemon, daemonPid: 0, runs: 0 };
  hosts.push(h);
  h.daemonPid = await childOf(daemon.child.pid as number);
  await waitFor(
    `${name}'s monitor-started; stderr: ${daemon.stderr()}`,
    () => readEventFile(join(dir, "log.log")).some((e) => e.event.action === "monitor-started"),
    15_000,
  );
  return h;
}

/** SIGTERM to the daemon itself; its exit code (nsenter exits with it). */
async function stopDaemon(h: Host): Promise<number | null> {
  const { child } = h.daemon;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  if (h.daemonPid) process.kill(h.daemonPid, "SIGTERM");
  else child.kill("SIGTERM");
  return exited;
}

const closes = (h: Host) =>
  trailLines(h.dir, undefined, { writing: true }).filter(
    (l) => (JSON.parse(l.line) as Ev).event.action === "connection-closed",
  ).length;

/** Real ssh sessions from a host, one after another; each is logged closed before the next. */
async function sessions(h: Host, n: number, big = false): Promise<void> {
  for (let i = 0; i < n; i++) {
    const before = closes(h);
    const args = big && i === 0 ? ["true", BIG_ARG] : ["true"];
    const run = await runClient([...h.sshd.sshArgs, ...args], { prefix: h.inside });
    assert.equal(run.code, 0, run.stderr);
    h.runs++;
    await waitFor(`${h.name}: the close of its ssh run ${h.runs}`, () => closes(h) > before, 15_000);
  }
}

const hostDir = (h: Host) => `${h.name}-${h.id}`;

/** The lines of a host's trail (rotated files included) not yet at the collector. */
function missing(h: Host, at: Map<string, string[]>): number {
  const there = new Set(at.get(hostDir(h)) ?? []);
  return trailLines(h.dir, undefined, { writing: true }).filter((l) => !there.has(l.line)).length;
}

interface Fleet {
  root: string;
  inbox: string;
  web1: Host;
  db1: Host;
  collectorConf: string;
  senderConf: string;
  port: number;
  collector: Rsyslogd;
  sender: Rsyslogd;
}

const NEEDS =
  "root, sshd, rsyslogd with rsyslog-relp, logrotate, unshare and nsenter are needed (apt-get install rsyslog rsyslog-relp logrotate)";
let fleet: Fleet | undefined;

/** The collector (the shipped config) listening on a loopback port of its own. */
async function startCollector(f: Pick<Fleet, "root" | "collectorConf" | "port">): Promise<Rsyslogd> {
  const c = await startCollectorAt(f.root, f.collectorConf, f.port);
  daemons.push(c);
  return c;
}

function startSender(f: Pick<Fleet, "root" | "senderConf">): Rsyslogd {
  const s = startRsyslogd(f.root, "sender", f.senderConf);
  daemons.push(s);
  return s;
}

/** Two hosts, a collector and a sender carrying both hosts' files, each config as shipped. */
async function startFleet(): Promise<Fleet> {
  const root = scratchDir("sol-fleet-");
  const inbox = join(root, "srv-ssh-audit");
  execFileSync("install", ["-d", "-m", "0750", inbox]);
  execFileSync("install", ["-d", join(root, "collector-work"), join(root, "sender-work")]);
  const port = await freePort();
  const web1Dir = join(root, "web1");
  const db1Dir = join(root, "db1");
  const conf = fleetConfigs(root, inbox, port, [web1Dir, db1Dir], writeFileSync);
  const collectorConf = conf.collector;
  const senderConf = conf.sender;
  const collector = await startCollector({ root, collectorConf, port });
  const web1 = await startHost(root, "web1", "11111111111111111111111111111111");
  const db1 = await startHost(root, "db1", "22222222222222222222222222222222");
  assert.deepEqual([web1.dir, db1.dir], [web1Dir, db1Dir]);
  const sender = startSender({ root, senderConf });
  return { root, inbox, web1, db1, collectorConf, senderConf, port, collector, sender };
}

/**
 * The host's log rotated by the shipped logrotate config, run in the host, and the daemon's reopen
 * (its SIGHUP) seen. dateext names have a resolution of one second: a rotation waits for the next one.
 */
async function rotate(f: Fleet, h: Host): Promise<void> {
  writeFileSync(
    join(f.root, "logrotate.conf"),
    logrotateConfig(join(h.dir, "log.log"), join(h.dir, "daemon.pid")),
  );
  const reopened = h.daemon.stderr().split("SIGHUP: output reopened").length - 1;
  const next = Math.floor(Date.now() / 1000 + 1) * 1000;
  await waitFor("the next second", () => Date.now() >= next, 3_000);
  execFileSync(h.inside[0] as string, [
    ...h.inside.slice(1),
    ...["logrotate", "-f", "-s", join(f.root, "logrotate.state"), join(f.root, "logrotate.conf")],
  ]);
  await waitFor(
    `${h.name}'s reopen after the rotation`,
    () => h.daemon.stderr().split("SIGHUP: output reopened").length - 1 === reopened + 1,
    10_000,
  );
}

/** closeHoles() for the fleet's two hosts. */
const closeFleetHoles = (f: Fleet): string[] =>
  closeHoles(f.inbox, (name) => [f.web1, f.db1].find((h) => h.name === name)?.dir);

/**
 * How many of host `h`'s records the collector lacks, once the latest one it wrote has arrived (so
 * that what is missing is lost, not on its way).
 */
async function behindOnceLatestArrived(f: Fleet, h: Host): Promise<number> {
  const last = trailLines(h.dir, undefined, { writing: true }).at(-1)?.line as string;
  await waitFor(
    `${h.name}'s latest record at the collector`,
    () => collected(f.inbox).get(hostDir(h))?.includes(last),
    60_000,
  );
  return missing(h, collected(f.inbox));
}

/** Each hole closed as report says (closeHoles), then every record at the collector and no hole left. */
async function healed(f: Fleet): Promise<string[]> {
  const ran = closeFleetHoles(f);
  await waitFor("every record of both hosts at the collector after resend", () => allArrived(f), 60_000);
  const r = runCli(["report", "--json", f.inbox]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /not in these files/, "no hole left");
  return ran;
}

const allArrived = (f: Fleet) => {
  const at = collected(f.inbox);
  return missing(f.web1, at) + missing(f.db1, at) === 0;
};

test("two hosts' trails through a real rsyslog sender and collector: every record, byte for byte, through a collector outage, a sender restart and two rotations", async (t) => {
  if (!needs(t, ready, NEEDS)) return;
  const f = await startFleet();
  fleet = f;
  const { web1, db1, inbox } = f;

  // Before the outage: sessions from both hosts, one with a record near the bound, all delivered.
  await sessions(web1, 3, true);
  await sessions(db1, 3, true);
  await waitFor("every record so far at the collector", () => allArrived(f), 30_000);

  // The outage: the collector stopped and the sender restarted; sessions go on, and web1's file
  // rotates twice. (The sender is restarted before it has sent anything the collector did not
  // acknowledge: see the next test for what rsyslog loses otherwise.)
  assert.equal(await f.collector.stop(), 0, f.collector.stderr());
  const down = Date.now();
  assert.equal(await f.sender.stop(), 0, f.sender.stderr());
  f.sender = startSender(f);
  await sessions(web1, 2, true);
  await sessions(db1, 2, true);
  for (let i = 1; i <= 2; i++) {
    await rotate(f, web1);
    await sessions(web1, 2);
    await sessions(db1, 2);
  }
  await waitFor("the outage's 20 s", () => Date.now() - down >= OUTAGE_MS, OUTAGE_MS + 1_000);
  assert.ok(missing(web1, collected(inbox)) > 0, "records wait for the collector");
  f.collector = await startCollector(f);
  await sessions(web1, 1);
  await sessions(db1, 1);
  await waitFor("every record of both hosts at the collector", () => allArrived(f), 60_000);

  // Byte for byte: the collector has each host's lines in that host's directory, and nothing else.
  const at = collected(inbox);
  assert.deepEqual([...at.keys()].sort(), [hostDir(db1), hostDir(web1)].sort(), "one directory per host");
  const rotated = readdirSync(web1.dir).filter((n) => n.startsWith("log.log-"));
  assert.equal(rotated.length, 2, `web1's rotated files: ${rotated}`);
  assert.ok(
    rotated.some((n) => n.endsWith(".gz")),
    "the first rotated file was compressed",
  );
  let copies = 0;
  for (const h of [web1, db1]) {
    const sent = trailLines(h.dir).map((l) => l.line);
    const got = at.get(hostDir(h)) ?? [];
    const sentSet = new Set(sent);
    assert.equal(sentSet.size, sent.length, `${h.name}'s lines are all different`);
    assert.deepEqual(
      got.filter((l) => !sentSet.has(l)).map((l) => l.slice(0, 120)),
      [],
      `the collector has no line ${h.name} did not write`,
    );
    copies += got.length - new Set(got).size;
    const events = sent.map((l) => JSON.parse(l) as Ev);
    for (const e of events) assertValidEvent(e);
    assert.ok(
      events.every((e) => e.host.hostname === h.name && e.host.id === h.id),
      `${h.name}'s records name it`,
    );
    assert.deepEqual(
      events.map((e) => e.event.sequence),
      events.map((_, i) => i + 1),
      `${h.name}'s records are numbered 1, 2, … in one run`,
    );
    const biggest = Math.max(...sent.map((l) => Buffer.byteLength(l)));
    assert.ok(biggest >= 200_000 && biggest <= 262_144, `${h.name}'s largest record: ${biggest} bytes`);

    // The report over the collector's directory: exactly this host's sessions, copies taken once.
    const opened = events
      .filter((e) => e.event.action === "connection-opened")
      .map((e) => e.ssh_outbound.connection_id as string);
    assert.equal(opened.length, h.runs, `${h.name}: one connection per ssh run`);
    const r = runCli(["report", "--host", h.name, "--json", inbox]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /not in these files/, "no record is missing");
    const reported = jsonLines(r.stdout).filter((x) => x.type === "session");
    assert.deepEqual(reported.map((s) => s.id).sort(), [...opened].sort(), `${h.name}'s sessions`);
    assert.ok(reported.every((s) => s.status === "closed"));
  }
  const byHost = runCli(["report", "--by", "host", "--json", inbox]);
  assert.equal(byHost.code, 0, byHost.stderr);
  const groups = jsonLines(byHost.stdout).filter((x) => x.type === "group");
  assert.deepEqual(
    Object.fromEntries(groups.map((g) => [g.key, g.sessions])),
    Object.fromEntries([web1, db1].map((h) => [`${h.name} (${h.id.slice(0, 8)})`, h.runs])),
  );
  t.diagnostic(
    `records: ${[web1, db1].map((h) => `${h.name} ${trailLines(h.dir).length}`).join(", ")}; copies at the collector: ${copies}`,
  );
});

for (const rotations of [1, 2]) {
  test(`${rotations === 1 ? "one rotation" : "two rotations"} while the sender is down: the hole the collector's report names${rotations === 2 ? ", in a .gz by then," : ""} is closed by resend, byte for byte`, async (t) => {
    if (!needs(t, ready, NEEDS)) return;
    if (!fleet) return t.skip("the fleet of the test before did not start");
    const f = fleet;
    await waitFor("every record so far at the collector", () => allArrived(f), 60_000);
    // The sender stops (an upgrade, a host in maintenance); web1 goes on, its log rotates, then the
    // sender is back.
    assert.equal(await f.sender.stop(), 0, f.sender.stderr());
    const gz = () => readdirSync(f.web1.dir).filter((n) => n.endsWith(".gz")).length;
    const gzBefore = gz();
    await sessions(f.web1, 2);
    for (let i = 0; i < rotations; i++) {
      // The second rotation compresses the first's file (delaycompress): out of rsyslog's reach.
      await rotate(f, f.web1);
      await sessions(f.web1, 1);
    }
    // Each rotation compressed the file of the one before.
    assert.equal(gz(), gzBefore + rotations, "each rotation compressed the file before it");
    f.sender = startSender(f);
    await sessions(f.web1, 1);
    const behind = await behindOnceLatestArrived(f, f.web1);
    const ran = await healed(f);
    // Byte for byte: nothing at the collector that web1 did not write.
    const sent = new Set(trailLines(f.web1.dir).map((l) => l.line));
    assert.deepEqual(
      (collected(f.inbox).get(hostDir(f.web1)) ?? []).filter((l) => !sent.has(l)),
      [],
    );
    if (behind > 0) assert.ok(ran.length > 0, "a hole was named and resend ran for it");
    t.diagnostic(`records the rotations left behind: ${behind}; resend: ${ran.join("; ") || "not needed"}`);
  });
}

test("the sender's queue bound reached while the collector is away: what rsyslog keeps, what the report names, and resend closing it", async (t) => {
  if (!needs(t, ready, NEEDS)) return;
  if (!fleet) return t.skip("the fleet of the test before did not start");
  const f = fleet;
  await waitFor("every record so far at the collector", () => allArrived(f), 60_000);
  // The shipped queue (1,000 records in memory, then 2 GiB on disk) made small enough to fill: 10 in
  // memory, 64 KiB on disk; enqueueing waits at most 100 ms.
  const shippedSnippet = join(f.root, "60-sender.conf");
  const smallSnippet = join(f.root, "60-sender-small-queue.conf");
  const smallText = readFileSync(shippedSnippet, "utf8")
    .replace(
      'queue.size="1000" queue.highWatermark="600" queue.lowWatermark="200"',
      'queue.size="10" queue.highWatermark="8" queue.lowWatermark="2" queue.timeoutEnqueue="100"',
    )
    .replace('queue.maxDiskSpace="2g"', 'queue.maxDiskSpace="64k"');
  assert.ok(
    smallText.includes('queue.maxDiskSpace="64k"') && smallText.includes('queue.size="10"'),
    "the shipped queue settings were found",
  );
  writeFileSync(smallSnippet, smallText);
  const small = f.senderConf.replace(shippedSnippet, smallSnippet);
  assert.notEqual(small, f.senderConf, "the sender includes the shipped snippet");
  assert.equal(await f.collector.stop(), 0, f.collector.stderr());
  assert.equal(await f.sender.stop(), 0, f.sender.stderr());
  f.sender = startSender({ root: f.root, senderConf: small });
  const bytesBefore = trailLines(f.web1.dir).reduce((n, l) => n + l.line.length + 1, 0);
  await sessions(f.web1, 15, true);
  const written = trailLines(f.web1.dir).reduce((n, l) => n + l.line.length + 1, 0) - bytesBefore;
  f.collector = await startCollector(f);
  // Back to the shipped sender (it takes over the small one's saved queue): its queue takes a record
  // of any size, where one smaller than a record drops it every time it is sent, and so may drop the
  // latest records too. A record written after the switch arrives: then what is missing is known.
  assert.equal(await f.sender.stop(), 0, f.sender.stderr());
  f.sender = startSender(f);
  await sessions(f.web1, 1);
  const behind = await behindOnceLatestArrived(f, f.web1);
  const ran = await healed(f);
  t.diagnostic(
    `${written} bytes written while the collector was away (queue: 64 KiB on disk); records missing at the collector afterwards: ${behind}; resend: ${ran.join("; ") || "not needed"}`,
  );
});

test("a sender restarted with records the collector never acknowledged loses them in rsyslog; report names each one", async (t) => {
  if (!needs(t, ready, NEEDS)) return;
  if (!fleet) return t.skip("the fleet of the test before did not start");
  const f = fleet;
  await waitFor("every record so far at the collector", () => allArrived(f), 60_000);
  assert.equal(await f.collector.stop(), 0, f.collector.stderr());
  // A session while the collector is away: the sender sends its records into the closed connection.
  await sessions(f.web1, 2);
  assert.equal(await f.sender.stop(), 0, f.sender.stderr());
  f.sender = startSender(f);
  f.collector = await startCollector(f);
  await sessions(f.web1, 1);
  for (const h of [f.web1, f.db1]) assert.equal(await stopDaemon(h), 0, h.daemon.stderr());
  // Everything rsyslog still has arrives: the hosts' last records (monitor-stopped) are there.
  await waitFor(
    "both monitor-stopped records at the collector",
    () => {
      const at = collected(f.inbox);
      return [f.web1, f.db1].every((h) =>
        (at.get(hostDir(h)) ?? []).some((l) => l.includes('"action":"monitor-stopped"')),
      );
    },
    60_000,
  );
  const at = collected(f.inbox);
  const there = new Set(at.get(hostDir(f.web1)) ?? []);
  const lost = trailLines(f.web1.dir)
    .filter((l) => !there.has(l.line))
    .map((l) => (JSON.parse(l.line) as Ev).event.sequence as number);
  assert.equal(missing(f.db1, at), 0, "db1 sent nothing while the collector was away");
  const r = runCli(["report", "--json", f.inbox]);
  assert.equal(r.code, 0, r.stderr);
  if (lost.length === 0) {
    assert.doesNotMatch(r.stderr, /not in these files/);
  } else {
    // Every lost record is named, by host, run and number: the loss is not silent.
    const said = new RegExp(
      `${lost.length} record\\(s\\) the daemon wrote are not in these files .*web1 \\(11111111\\) run `,
    );
    assert.match(r.stderr, said);
    const numbers = /web1 \(11111111\) run [0-9a-f]{8}…: ([0-9, –]+)/.exec(r.stderr)?.[1] ?? "";
    const named = numbers.split(", ").flatMap((x) => {
      const [a, b] = x.split("–").map(Number) as [number, number | undefined];
      return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
    });
    assert.deepEqual(named, lost);
  }
  // And resend closes what report names: the collector's copy complete.
  const ran = await healed(f);
  t.diagnostic(
    `records rsyslog lost at the sender's restart: ${lost.length} (sequence ${lost.join(", ")}); resend: ${ran.join("; ") || "not needed"}`,
  );
});

function jsonLines(out: string): Ev[] {
  return out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Ev);
}
