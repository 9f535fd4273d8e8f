import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Ev, kindsAtPort, namelessAtPort, ROOT, tellingStats } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { trailLines } from "../helpers/shipped.ts";
import { waitFor } from "../helpers/wait.ts";

// The .deb under a real systemd: a Debian root file system (debootstrap, built once and kept in
// CACHE) booted with systemd as its pid 1 by systemd-nspawn, with a network of its own (loopback only),
// no tracefs (the probe attaches by BTF), and a bpffs where systemd mounts one on a host. The package is installed with
// dpkg and the service driven with systemctl from inside, once per source; the trail and the journal
// are read. The shipped unit's sandbox (seccomp filter, capability bounding set, ProtectSystem …) runs
// for real here.
const NAME = "ssh-outbound-logger";
const CACHE = process.env.SOL_ROOTFS_CACHE ?? "/var/cache/ssh-outbound-logger-tests/bookworm-systemd";
const INCLUDE = "systemd,systemd-sysv,dbus,openssh-server,openssh-client,libbpf1,logrotate";
const MIRROR = process.env.SOL_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const ready =
  IS_ROOT &&
  process.arch === "x64" &&
  hasCommand("debootstrap") &&
  hasCommand("systemd-nspawn") &&
  hasCommand("dpkg-deb");
const WHY = "root, debootstrap and systemd-nspawn (apt-get install debootstrap systemd-container) are needed";
let deb = "";
const booted: { nspawn: ChildProcess; pid1: number }[] = [];

before(() => {
  if (!ready) return;
  execFileSync("npm", ["run", "--silent", "package:deb"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  deb = readdirSync(join(ROOT, "dist"))
    .filter((f) => f.endsWith(".deb"))
    .map((f) => join(ROOT, "dist", f))[0] as string;
  // The root file system: Debian's packages, once; rebuilt when missing or made with another list.
  const marker = join(CACHE, ".ssh-outbound-logger-rootfs");
  if (existsSync(marker) && readFileSync(marker, "utf8") === INCLUDE) return;
  const tmp = `${CACHE}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(CACHE, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync("debootstrap", ["--variant=minbase", `--include=${INCLUDE}`, "bookworm", tmp, MIRROR], {
    stdio: ["ignore", "ignore", "inherit"],
    timeout: 600_000,
  });
  writeFileSync(join(tmp, ".ssh-outbound-logger-rootfs"), INCLUDE);
  renameSync(tmp, CACHE);
});

after(async () => {
  for (const b of booted) {
    // The container's systemd outlives a killed systemd-nspawn: end its pid namespace through it,
    // or every failed run leaves a booted Debian behind (sshd, journald, and their namespaces).
    try {
      process.kill(b.pid1, "SIGKILL");
    } catch {
      // already gone: it powered off
    }
    if (b.nspawn.exitCode !== null || b.nspawn.signalCode !== null) continue;
    b.nspawn.kill("SIGKILL");
  }
});

/** A command inside the container (all its namespaces), to completion. */
function inside(pid1: number, args: string[], opts: { check?: boolean } = {}): string {
  const r = spawnSync("nsenter", ["-t", String(pid1), "-a", ...args], { encoding: "utf8", timeout: 120_000 });
  if (opts.check !== false && r.status !== 0)
    throw new Error(`in the container: ${args.join(" ")} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The container's pid 1 (systemd), a descendant of systemd-nspawn. */
function pid1Of(nspawn: number): number | undefined {
  const children = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
        .trim()
        .split(" ")
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  };
  const queue = children(nspawn);
  while (queue.length > 0) {
    const p = queue.shift() as number;
    try {
      if (readFileSync(`/proc/${p}/comm`, "utf8") === "systemd\n") return p;
    } catch {
      continue;
    }
    queue.push(...children(p));
  }
  return undefined;
}

/** Every path under the container's root that a package could leave behind (not runtime state). */
function files(root: string): Set<string> {
  const skip = new Set([
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/tmp",
    "/var/tmp",
    "/var/log/journal",
    "/var/lib/dpkg",
    "/var/lib/systemd",
    "/var/cache",
    "/var/lib/logrotate",
    "/var/log/dpkg.log",
    "/var/log/apt",
    "/var/log/alternatives.log",
    "/etc/ld.so.cache",
  ]);
  const out = new Set<string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (skip.has(p)) continue;
      out.add(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk("");
  return out;
}

const journal = (pid1: number) => inside(pid1, ["journalctl", "-u", NAME, "--no-pager", "-o", "cat"]);

for (const source of ["procfs", "ebpf"] as const) {
  test(`the .deb under systemd as pid 1 (${source}): start, ssh, reload, the daily rotation, restart with a session open and connects going on, a reinstall, stop, doctor in the sandbox, purge`, async (t) => {
    if (!needs(t, ready, WHY)) return;
    const root = join(scratchDir(`sol-nspawn-${source}-`), "root");
    execFileSync("cp", ["-a", "--reflink=auto", CACHE, root]);
    // A key for root's ssh to this container's own sshd; the source chosen by a drop-in of our own.
    mkdirSync(join(root, "root/.ssh"), { recursive: true, mode: 0o700 });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, "root/.ssh/id_ed25519")]);
    copyFileSync(join(root, "root/.ssh/id_ed25519.pub"), join(root, "root/.ssh/authorized_keys"));
    chmodSync(join(root, "root/.ssh/authorized_keys"), 0o600);
    mkdirSync(join(root, `etc/systemd/system/${NAME}.service.d`), { recursive: true });
    writeFileSync(
      join(root, `etc/systemd/system/${NAME}.service.d/source.conf`),
      // No per-user limit: the restart below counts 150 connects made at 50 a second, one by one. The
      // probe pinned in a bpffs mounted below: a container's /sys has no /sys/fs/bpf to mount one on.
      // A stats line in the journal every 2 s: what a failed wait below says of the running daemon.
      `[Service]\nEnvironment=SSH_OUTBOUND_SOURCE=${source}\nEnvironment=SSH_OUTBOUND_USER_RATE=0\n` +
        "Environment=SSH_OUTBOUND_STATS_INTERVAL=2\n" +
        "Environment=SSH_OUTBOUND_PIN=/run/sol-bpf/probe\nReadWritePaths=/run/sol-bpf\n",
    );
    copyFileSync(deb, join(root, "root/package.deb"));

    const console_ = join(root, "..", "console.log");
    const nspawn = spawn(
      "systemd-nspawn",
      [
        ...["-D", root, "--register=no", "--keep-unit", "--boot", "--private-network"],
        ...[`--machine=sol-${source}-${process.pid}`, "--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN"],
        "--system-call-filter=bpf perf_event_open",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    nspawn.stdout?.on("data", (d) => appendFileSync(console_, d));
    nspawn.stderr?.on("data", (d) => appendFileSync(console_, d));
    const pid1 = await waitFor(
      `the container's systemd; console: ${console_}`,
      () => pid1Of(nspawn.pid as number),
      30_000,
    );
    booted.push({ nspawn, pid1 });
    await waitFor(
      "systemd's bus in the container",
      () => existsSync(`/proc/${pid1}/root/run/systemd/private`),
      30_000,
    );
    const state = inside(pid1, ["systemctl", "is-system-running", "--wait"], { check: false }).trim();
    assert.equal(state, "running", `failed units: ${inside(pid1, ["systemctl", "--failed", "--no-legend"])}`);
    // A host's systemd mounts bpffs at /sys/fs/bpf at boot; a container has none, and the unit may not
    // mount: one is mounted here (the drop-in points --pin at it), for the probe to stay pinned.
    // tracefs is not: the eBPF source must run without it.
    inside(pid1, ["mkdir", "-p", "/run/sol-bpf"]);
    inside(pid1, ["mount", "-t", "bpf", "bpf", "/run/sol-bpf"]);
    assert.equal(
      inside(pid1, ["grep", "-c", " - tracefs ", "/proc/self/mountinfo"], { check: false }).trim(),
      "0",
      "no tracefs in the container",
    );
    const beforeInstall = files(root);

    const log = join(root, "var/log", NAME);
    const events = (): Ev[] => {
      if (!existsSync(log)) return [];
      return trailLines(log, undefined, { writing: true }).map((l) => JSON.parse(l.line) as Ev);
    };
    const ssh = (command: string[]) => [
      ...["ssh", "-i", "/root/.ssh/id_ed25519", "-o", "StrictHostKeyChecking=no"],
      ...["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1", ...command],
    ];

    // Installed: postinst enables and starts the service.
    inside(pid1, ["dpkg", "-i", "/root/package.deb"]);
    await waitFor(
      `monitor-started; journal: ${journal(pid1)}`,
      () => events().some((e) => e.event.action === "monitor-started"),
      30_000,
    );
    assert.match(
      journal(pid1),
      new RegExp(`started: source ${source} `),
      "the chosen source runs, no fallback",
    );
    assert.equal(inside(pid1, ["systemctl", "is-active", NAME]).trim(), "active");
    if (source === "ebpf") assert.match(journal(pid1), /tp_btf\/inet_sock_set_state, pinned/);

    // A real ssh session, attributed in full.
    const t0 = Date.now();
    inside(pid1, ssh(["true"]));
    const session = await waitFor(
      "the session's close",
      () =>
        events().find(
          (e) => e.event.action === "connection-closed" && e.ssh_outbound.target?.command === "true",
        ),
      15_000,
    );
    assert.equal(session.ssh_outbound.attribution, "complete");
    assert.equal(session.process.name, "ssh");
    assert.equal(session.user.name, "root");
    assert.equal(session.destination.port, 22);
    assert.ok(Math.abs(Date.parse(session["@timestamp"]) - t0) < 30_000, `${session["@timestamp"]} is now`);

    // systemctl reload: the log is reopened.
    inside(pid1, ["systemctl", "reload", NAME]);
    await waitFor("the reopen after reload", () => journal(pid1).includes("SIGHUP: output reopened"), 10_000);

    // logrotate's daily run (its own service, the shipped config), the last rotation a day ago.
    const yesterday = new Date(Date.now() - 86_400_000);
    const stamp = `${yesterday.getUTCFullYear()}-${yesterday.getUTCMonth() + 1}-${yesterday.getUTCDate()}-0:0:0`;
    mkdirSync(join(root, "var/lib/logrotate"), { recursive: true });
    writeFileSync(
      join(root, "var/lib/logrotate/status"),
      `logrotate state -- version 2\n"/var/log/${NAME}/log.log" ${stamp}\n`,
    );
    inside(pid1, ["systemctl", "start", "logrotate.service"]);
    const rotated = readdirSync(log).filter((f) => f.startsWith("log.log-"));
    assert.equal(rotated.length, 1, `rotated: ${rotated}`);
    await waitFor(
      "the reopen after the rotation",
      () => journal(pid1).split("SIGHUP: output reopened").length === 3,
      10_000,
    );
    inside(pid1, ssh(["echo", "after-rotation"]));
    await waitFor(
      "a session in the new file",
      () =>
        readFileSync(join(log, "log.log"), "utf8").includes('"after-rotation"') &&
        trailLines(log, undefined, { writing: true }).some(
          (l) => l.file === "log.log" && l.line.includes('"connection-closed"'),
        ),
      15_000,
    );

    // systemctl restart with a session open: it goes on under its id (the state directory).
    const held = spawn("nsenter", ["-t", String(pid1), "-a", ...ssh(["sleep", "6"])], { stdio: "ignore" });
    const opened = await waitFor(
      "the held session's open",
      () =>
        events().find(
          (e) => e.event.action === "connection-opened" && e.ssh_outbound.target?.command === "sleep 6",
        ),
      15_000,
    );
    // Connects at 50 a second from before `action` to after it: with the eBPF source not one of them
    // is missing (the pinned probe captures while no daemon runs). procfs cannot see connects of a
    // millisecond: the count is the eBPF source's to keep.
    const CONNECTS = 150;
    let connectsMade = 0;
    const bashClosed = () =>
      new Set(
        events()
          .filter((e) => e.process?.name === "bash" && e.event.action === "connection-closed")
          .map((e) => e.ssh_outbound.connection_id),
      ).size;
    // What a timed-out wait for the closes says: the connects opened and never closed, when they
    // started, and the daemon's own records around them (stops, starts, losses).
    const unclosed = () => {
      const all = events();
      const closed = new Set(
        all.filter((e) => e.event.action === "connection-closed").map((e) => e.ssh_outbound.connection_id),
      );
      const open = all.filter(
        (e) =>
          e.process?.name === "bash" &&
          e.event.action === "connection-opened" &&
          !closed.has(e.ssh_outbound.connection_id),
      );
      // The daemon's own records; a start says how many connections it continued and ended while down.
      const own = all
        .filter((e) => !String(e.event.action).startsWith("connection-"))
        .map((e) => {
          const c = e.ssh_outbound?.monitor?.continuity;
          return `${e.event.action} ${e["@timestamp"]}${c ? ` (continued ${c.resumed}, ended while down ${c.closed_while_down})` : ""}`;
        });
      const from = open.slice(0, 5).map((e) => e.event.start);
      // Every record at the SSH port by how it reads, and what the last stopped daemon counted of itself.
      const stopped = all.filter((e) => e.event.action === "monitor-stopped").at(-1);
      const said = journal(pid1).split("\n");
      const line = said.filter((l) => l.includes("stats: ")).at(-1);
      const running = line === undefined ? "none" : tellingStats(line.replace(/.*stats: /, "").split(" "));
      // How each daemon came by its probe: taken over from the last run, or pinned in place of it.
      const probes = said
        .filter((l) => l.includes("started: source"))
        .map((l) =>
          l.includes("taken over from the last run")
            ? "taken over"
            : l.includes("in place of another version's probe")
              ? "replaced"
              : l.includes(", pinned")
                ? "pinned afresh"
                : "unpinned",
        )
        .join(" | ");
      return `${bashClosed()} closed; ${open.length} opened, not closed, from ${from.join(", ")}; ${own.join("; ")}; at port 22: ${JSON.stringify(kindsAtPort(all, 22))}; those without a process, by source port: ${JSON.stringify(namelessAtPort(all, 22))}; the last stopped daemon's counts: ${tellingStats(stopped?.ssh_outbound?.monitor?.stats ?? {})}; the running daemon's last stats line: ${running}; each start's probe: ${probes}`;
    };
    const starts = () => events().filter((e) => e.event.action === "monitor-started").length;
    const connectsAcross = async (what: string, action: () => void, startsAfter: number) => {
      const connecting =
        source === "procfs"
          ? undefined
          : spawn(
              "nsenter",
              [
                ...["-t", String(pid1), "-a", "bash", "-c"],
                `for i in $(seq ${CONNECTS}); do (exec 3<>/dev/tcp/127.0.0.1/22); sleep 0.02; done`,
              ],
              { stdio: "ignore" },
            );
      if (connecting) {
        await waitFor(`the first connects before ${what}`, () => bashClosed() > connectsMade, 15_000);
      }
      action();
      await waitFor(`monitor-started #${startsAfter} after ${what}`, () => starts() === startsAfter, 60_000);
      if (!connecting) return;
      await new Promise<void>((r) => connecting.once("exit", () => r()));
      connectsMade += CONNECTS;
      await waitFor(
        `all ${connectsMade} connects closed in the trail`,
        () => bashClosed() >= connectsMade,
        20_000,
        unclosed,
      );
      assert.equal(bashClosed(), connectsMade, `each connect once, none lost across ${what}`);
    };
    await connectsAcross("systemctl restart", () => inside(pid1, ["systemctl", "restart", NAME]), 2);
    if (source === "ebpf") assert.match(journal(pid1), /pinned, taken over from the last run/);
    const restarted = events().filter((e) => e.event.action === "monitor-started")[1] as Ev;
    assert.equal(
      restarted.ssh_outbound.monitor.continuity?.resumed,
      1,
      JSON.stringify(restarted.ssh_outbound.monitor),
    );
    await new Promise<void>((r) => held.once("exit", () => r()));
    const id = opened.ssh_outbound.connection_id;
    await waitFor(
      "the held session's close",
      () =>
        events().some((e) => e.event.action === "connection-closed" && e.ssh_outbound.connection_id === id),
      15_000,
    );
    assert.deepEqual(
      events()
        .filter((e) => e.ssh_outbound?.connection_id === id)
        .map((e) => e.event.action),
      ["connection-opened", "connection-closed"],
      "one id from open to close across the restart",
    );

    // The package installed again over itself (dpkg -i: prerm upgrade, postinst restarts the unit), with
    // connects going on: the new daemon takes the pinned probe over.
    await connectsAcross(
      "a reinstall of the .deb",
      () => inside(pid1, ["dpkg", "-i", "/root/package.deb"]),
      3,
    );
    if (source === "ebpf") {
      assert.equal(journal(pid1).split("taken over from the last run").length - 1, 2, journal(pid1));
    }

    // The watchdog: a daemon whose event loop stalls (SIGSTOP stands in for a stall) is killed and
    // started again by systemd, and a session open across it keeps its one id. WatchdogSec shortened
    // by a drop-in; TimeoutAbortSec too, since a stopped process only ends with SIGKILL.
    writeFileSync(
      join(root, `etc/systemd/system/${NAME}.service.d/watchdog.conf`),
      "[Service]\nWatchdogSec=3s\nTimeoutAbortSec=2s\n",
    );
    inside(pid1, ["systemctl", "daemon-reload"]);
    inside(pid1, ["systemctl", "restart", NAME]);
    await waitFor(
      "the fourth monitor-started",
      () => events().filter((e) => e.event.action === "monitor-started").length === 4,
      20_000,
    );
    const stalled = spawn("nsenter", ["-t", String(pid1), "-a", ...ssh(["sleep", "14"])], {
      stdio: "ignore",
    });
    const stalledOpen = await waitFor(
      "the open of the session held across the stall",
      () =>
        events().find(
          (e) => e.event.action === "connection-opened" && e.ssh_outbound.target?.command === "sleep 14",
        ),
      15_000,
    );
    // The state file (saved at most once a second) holds the session before the daemon stalls.
    const stateFile = join(root, `var/lib/${NAME}/state.json`);
    await waitFor(
      "the held session in the state file",
      () =>
        existsSync(stateFile) &&
        readFileSync(stateFile, "utf8").includes(stalledOpen.ssh_outbound.connection_id),
      10_000,
    );
    const mainPid = inside(pid1, ["systemctl", "show", "-P", "MainPID", NAME]).trim();
    inside(pid1, ["kill", "-STOP", mainPid]);
    await waitFor(
      `a fifth monitor-started after the watchdog; journal: ${journal(pid1)}`,
      () => events().filter((e) => e.event.action === "monitor-started").length === 5,
      30_000,
    );
    assert.match(journal(pid1), /[Ww]atchdog timeout/, "systemd says why it restarted the daemon");
    assert.notEqual(inside(pid1, ["systemctl", "show", "-P", "MainPID", NAME]).trim(), mainPid);
    const afterStall = events().filter((e) => e.event.action === "monitor-started")[4] as Ev;
    assert.equal(afterStall.ssh_outbound.monitor.continuity?.resumed, 1, "the held session continued");
    await new Promise<void>((r) => stalled.once("exit", () => r()));
    const stalledId = stalledOpen.ssh_outbound.connection_id;
    await waitFor(
      "the close of the session held across the stall",
      () =>
        events().some(
          (e) => e.event.action === "connection-closed" && e.ssh_outbound.connection_id === stalledId,
        ),
      15_000,
    );
    assert.deepEqual(
      events()
        .filter((e) => e.ssh_outbound?.connection_id === stalledId)
        .map((e) => e.event.action),
      ["connection-opened", "connection-closed"],
      "one id from open to close across the watchdog's restart",
    );
    // The drop-in is ours, not the package's: it goes before the purge compares the file systems.
    rmSync(join(root, `etc/systemd/system/${NAME}.service.d/watchdog.conf`));
    inside(pid1, ["systemctl", "daemon-reload"]);

    // stop.
    inside(pid1, ["systemctl", "stop", NAME]);
    await waitFor(
      "monitor-stopped",
      // One for each restart that stopped it in order (three, the reinstall's among them), one for
      // this stop; the watchdog's kill wrote none.
      () => events().filter((e) => e.event.action === "monitor-stopped").length === 4,
      15_000,
    );
    assert.match(journal(pid1), /Stopped ssh-outbound-logger/);
    for (const e of events()) assertValidEvent(e);

    // doctor under the unit's own sandbox: its [Service] settings as properties of a transient unit.
    const unit = readFileSync(join(root, `lib/systemd/system/${NAME}.service`), "utf8");
    const service = unit.slice(unit.indexOf("[Service]"), unit.indexOf("[Install]"));
    const notSandbox =
      /^(Type|NotifyAccess|WatchdogSec|ExecStart|ExecReload|KillMode|Restart|RestartSec|StandardOutput|StandardError|SyslogIdentifier|EnvironmentFile)=/;
    const props = service
      .split("\n")
      .filter((l) => /^[A-Za-z]+=/.test(l) && !notSandbox.test(l))
      .flatMap((l) => ["-p", l]);
    const doctor = JSON.parse(
      inside(pid1, [
        "systemd-run",
        "--wait",
        "--pipe",
        "--quiet",
        ...props,
        "-p",
        `Environment=SSH_OUTBOUND_SOURCE=${source}`,
        `/usr/bin/${NAME}`,
        "doctor",
        "--json",
      ]),
    ) as { level: string; title: string; detail: string }[];
    assert.deepEqual(
      doctor.filter((c) => c.level !== "ok").map((c) => `${c.title}: ${c.detail}`),
      [],
      "every check passes under the unit's sandbox",
    );
    assert.match(doctor.find((c) => c.title === "configured source")?.detail ?? "", new RegExp(`^${source}`));
    assert.match(
      doctor.find((c) => c.title === "privileges")?.detail ?? "",
      /CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN$/,
    );

    // dpkg --purge: the trail stays, and nothing else of the package, in the kernel either.
    const trail = trailLines(log).length;
    inside(pid1, ["dpkg", "--purge", NAME]);
    // (maps.debug and progs.debug are the kernel's own, in every bpffs.)
    assert.deepEqual(
      inside(pid1, ["ls", "/run/sol-bpf"])
        .split("\n")
        .filter((f) => f !== "" && !f.endsWith(".debug")),
      [],
      "the pinned probe went with the package",
    );
    const afterPurge = files(root);
    const left = [...afterPurge].filter((p) => !beforeInstall.has(p));
    assert.deepEqual(
      left.filter((p) => !p.startsWith(`/var/log/${NAME}`)).sort(),
      [],
      "only the trail is left",
    );
    assert.deepEqual(
      [...beforeInstall].filter((p) => !afterPurge.has(p)),
      [],
      "nothing that was there is gone",
    );
    assert.equal(trailLines(log).length, trail, "the trail is whole");

    inside(pid1, ["systemctl", "poweroff"], { check: false });
    await waitFor(
      "the container's exit",
      () => nspawn.exitCode !== null || nspawn.signalCode !== null,
      30_000,
    );
  });
}
