import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { session } from "../helpers/session.ts";
import { runClient } from "../helpers/ssh.ts";
import { freePort, SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// ProxyCommand: the client opens no TCP connection of its own; its child (nc, socat) does, to the SSH
// port or to a relay on any other port. Each must be logged as the session it carries: the client's
// typed target, and which client it serves. And this host as a jump host: our sshd's onward connection
// names the session it serves (forwarded_for).

const ready = Boolean(SSHD) && hasCommand("ssh") && hasCommand("nc") && hasCommand("socat");
const ebpf = checkEbpf();
let sshd: TestSshd | undefined;
let relay: { port: number; child: ChildProcess } | undefined;
const daemons = new Map<string, Daemon>();

before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  // A relay on a port that is not an SSH port: what a bastion on 443 or a cloud helper looks like.
  const port = await freePort();
  const child = spawn(
    "socat",
    [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${sshd.port}`],
    {
      stdio: "ignore",
    },
  );
  relay = { port, child };
  await waitFor(`socat listening on ${port}`, () => canConnect(port), 10_000);
  for (const source of ["procfs", "ebpf"]) {
    if (source === "ebpf" && !ebpf.ok) continue;
    const d = startDaemon(["run", "--source", source, "--ports", String(sshd.port), "--interval", "20"]);
    await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started");
    daemons.set(source, d);
  }
});

after(async () => {
  for (const d of daemons.values()) assert.equal(await d.stop(), 0, d.stderr());
  relay?.child.kill();
  sshd?.stop();
});

/** This test can run here: the tools are there, and for the eBPF source, the probe can load. */
function canRun(t: TestContext, source: string): boolean {
  if (!needs(t, ready, "sshd, ssh, nc and socat are needed")) return false;
  return source !== "ebpf" || needs(t, ebpf.ok, `the eBPF source cannot run: ${ebpf.ok ? "" : ebpf.reason}`);
}

/** A client config for the test sshd's key and no prompts, after `first` (Host blocks of its own). */
function clientConfig(s: TestSshd, name: string, first: string[] = []): string {
  const path = join(s.dir, name);
  writeFileSync(
    path,
    [
      ...first,
      "Host *",
      `  User ${s.user}`,
      `  IdentityFile ${join(s.dir, "user")}`,
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  BatchMode yes",
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  return path;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/**
 * The ssh run's arguments with a ProxyCommand, the host as typed (an alias the proxy resolves), and a
 * remote command that lasts until `flag` exists (the sshd is on this host).
 */
function viaProxy(s: TestSshd, proxy: string, flag: string): string[] {
  const args = [...s.sshArgs];
  const dest = args.pop() as string;
  return [
    ...args,
    "-o",
    `ProxyCommand=${proxy}`,
    dest.replace("127.0.0.1", "db-behind-proxy"),
    `until [ -e ${flag} ]; do sleep 0.05; done`,
  ];
}

for (const source of ["procfs", "ebpf"]) {
  for (const kind of ["nc", "socat relay"]) {
    test(`${source}: a ProxyCommand (${kind}) is logged with the session's typed target and its client`, async (t) => {
      if (!canRun(t, source)) return;
      const s = sshd as TestSshd;
      const r = relay as { port: number };
      const d = daemons.get(source) as Daemon;
      const proxy = kind === "nc" ? `nc 127.0.0.1 ${s.port}` : `socat - TCP:127.0.0.1:${r.port}`;
      const name = kind === "nc" ? "nc" : "socat";
      // The session lasts until the daemon has logged its opening: no poll has to catch a short one on
      // a loaded host (procfs sees only what is open at a scan, and the proxy's /proc while it lives).
      const flag = join(s.dir, `proxy-${source}-${kind.replace(" ", "-")}.done`);
      const command = `until [ -e ${flag} ]; do sleep 0.05; done`;
      let pid = 0;
      const running = runClient(viaProxy(s, proxy, flag), {
        onSpawn: (p) => {
          pid = p;
        },
      });
      try {
        await d.waitFor(
          `the opening of ${name} serving ssh`,
          (e) => pid > 0 && e.ssh_outbound?.proxy_for?.pid === pid && e.event?.action === "connection-opened",
        );
      } finally {
        writeFileSync(flag, "");
      }
      const run = await running;
      assert.equal(run.code, 0, run.stderr);
      const [o, c] = await session(
        d,
        `${name} serving ssh ${run.pid}`,
        (e) => e.ssh_outbound?.proxy_for?.pid === run.pid,
      );
      for (const e of [o, c]) {
        assertValidEvent(e);
        assert.equal(e.process.name, name);
        assert.equal(e.process.parent.pid, run.pid);
        assert.equal(e.destination.port, kind === "nc" ? s.port : r.port);
        assert.deepEqual(e.ssh_outbound.target, {
          client: "ssh",
          user: s.user,
          host: "db-behind-proxy",
          port: s.port,
          jump: [],
          command,
          identity_files: [join(s.dir, "user")],
        });
      }
      // The client itself held no TCP socket: nothing is logged under its pid.
      assert.deepEqual(
        d.events.filter((e: Ev) => e.process?.pid === run.pid),
        [],
      );
    });
  }
}

for (const source of ["procfs", "ebpf"]) {
  test(`${source}: a jump through our sshd names the session it serves; no record has trailing empty args`, async (t) => {
    if (!canRun(t, source)) return;
    const s = sshd as TestSshd;
    const d = daemons.get(source) as Daemon;
    // -J passes -F (not -i or -o) on to the ssh it runs for the hop: the options go in a config file.
    const config = clientConfig(s, `jump-${source}.conf`);
    // The hop is named otherwise than the destination, or ssh refuses it as a loop.
    const hop = `${s.user}@localhost:${s.port}`;
    const run = await runClient([
      "-F",
      config,
      "-J",
      hop,
      "-p",
      String(s.port),
      `${s.user}@127.0.0.1`,
      "sleep",
      "0.3",
    ]);
    assert.equal(run.code, 0, run.stderr);
    // The hop's client (ssh -W, the outer ssh's child) connects to our sshd, which connects onward.
    const [hopOpened] = await session(
      d,
      `the hop client under ${run.pid}`,
      (e) => e.process?.parent?.pid === run.pid,
    );
    const [o, c] = await session(
      d,
      "sshd's onward connection",
      (e) => e.process?.name === "sshd" && e.ssh_outbound?.forwarded_for?.port === hopOpened.source.port,
    );
    for (const e of [o, c]) {
      assertValidEvent(e);
      assert.deepEqual(e.ssh_outbound.forwarded_for, {
        user: s.user,
        ip: "127.0.0.1",
        port: hopOpened.source.port,
      });
      assert.equal(e.destination.port, s.port);
    }
    for (const e of d.events) {
      const argvs = [
        e.process?.args,
        e.process?.parent?.args,
        ...(e.ssh_outbound?.ancestry ?? []).map((a: Ev) => a.args),
      ];
      for (const args of argvs) {
        if (Array.isArray(args) && args.length > 1)
          assert.notEqual(args.at(-1), "", `trailing empty arg in ${JSON.stringify(args)}`);
      }
    }
  });
}

for (const source of ["procfs", "ebpf"]) {
  for (const hops of [1, 2]) {
    test(`${source}: ssh -J through ${hops} hop(s): each hop's record names the destination, the route and its hop`, async (t) => {
      if (!canRun(t, source)) return;
      const s = sshd as TestSshd;
      const d = daemons.get(source) as Daemon;
      // Aliases for one sshd: ssh refuses a jump host named like the destination (a loop).
      const config = clientConfig(
        s,
        `route-${source}-${hops}.conf`,
        ["hop1", "hop2", "final"].flatMap((h) => [`Host ${h}`, "  HostName 127.0.0.1", `  Port ${s.port}`]),
      );
      const jump = hops === 1 ? ["hop1"] : ["hop1", "hop2"];
      // A command of its own: both daemons see every test's runs, and this names this one's records.
      const command = `sleep 0.3; echo ${source}-${hops}`;
      const run = await runClient(["-F", config, "-J", jump.join(","), "final", command]);
      assert.equal(run.code, 0, run.stderr);
      const want = { client: "ssh", host: "final", jump, command };
      // One record per hop: the deepest helper's connection to hop 1, then our sshd's onward ones.
      for (let hop = 1; hop <= hops + 1; hop++) {
        const [o, c] = await session(
          d,
          `hop ${hop} of ssh ${run.pid}`,
          (e) => e.ssh_outbound?.route?.hop === hop && e.ssh_outbound?.target?.command === command,
        );
        for (const e of [o, c]) {
          assertValidEvent(e);
          assert.deepEqual(e.ssh_outbound.route, { hop, of: hops + 1 });
          assert.deepEqual(
            {
              client: e.ssh_outbound.target.client,
              host: e.ssh_outbound.target.host,
              jump: e.ssh_outbound.target.jump,
              command: e.ssh_outbound.target.command,
            },
            want,
          );
          assert.equal(e.process.name, hop === 1 ? "ssh" : "sshd");
        }
      }
    });
  }
}
