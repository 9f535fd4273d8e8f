import assert from "node:assert/strict";
import { readdirSync, readlinkSync } from "node:fs";
import { after, before, test } from "node:test";
import { NAMESPACES_ATTACK, SOCKETS_ATTACK } from "../helpers/attacks.ts";
import { needs } from "../helpers/ci.ts";
import {
  asNobody,
  costLine,
  cpuSeconds,
  HOSTILE_READY,
  HOSTILE_WHY,
  normalSession,
  rssMb,
  sources,
  watching,
} from "../helpers/hostile.ts";
import { runClient } from "../helpers/ssh.ts";
import { freePort, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Issue 19, attack 5: costs that follow sizes the attacker chooses. As nobody: (1) a task named ssh
// holding 5,000 UDP sockets and making a refused connect every 20 ms, while a 300 ms session runs;
// (2) 40 processes with 2 MB argvs each holding a connection open: the daemon's memory per open
// connection is bounded, whatever the argv.

const ARGVS = `
import resource, subprocess, sys, time
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
resource.setrlimit(resource.RLIMIT_STACK, (hard if hard != resource.RLIM_INFINITY and hard < 64 << 20 else 64 << 20, hard))
CHILD = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(64)
sys.stdout.write("up\\\\n"); sys.stdout.flush()
sys.stdin.read()  # held open until the parent closes our stdin
"""
filler = ["x" * 100000] * (size // 100001)
kids = []
for _ in range(n):
    k = subprocess.Popen([sys.executable, "-c", CHILD, str(port)] + filler, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    k.stdout.readline()
    kids.append(k)
print("all-open", flush=True)
time.sleep(float(sys.argv[4]))
for k in kids: k.stdin.close(); k.wait()
REPORT = {"open": n}
`;

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

for (const source of sources()) {
  test(`${source}: a task named ssh with 5,000 sockets and a refused connect every 20 ms does not hide a 300 ms session`, async (t) => {
    if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
    const s = sshd as TestSshd;
    const closedPort = await freePort();
    const d = await watching(source, `${s.port},${closedPort}`);
    const pid = d.pid;
    try {
      const cpu0 = cpuSeconds(pid);
      const attack = asNobody(SOCKETS_ATTACK, [String(closedPort), "4"]);
      // The attacker has its 5,000 sockets within milliseconds; ssh takes longer than that to connect.
      const run = await runClient([...s.sshArgs, "sleep", "0.3"]);
      assert.equal(run.code, 0, run.stderr);
      const short = await waitFor(
        "the 300 ms session's close",
        () => d.events.find((e) => e.event?.action === "connection-closed" && e.process?.pid === run.pid),
        15_000,
      );
      assert.equal(short.ssh_outbound.attribution, "complete");
      const normal = await normalSession(d, s, `normal-${source}`);
      const result = await attack.done;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(
        normal.delayMs <= 1000,
        `the normal session's record came ${normal.delayMs} ms after its end`,
      );
      const daemonS = cpuSeconds(pid) - cpu0;
      await d.stop();
      const stats = d.events.find((e) => e.event?.action === "monitor-stopped")?.ssh_outbound.monitor.stats;
      t.diagnostic(
        costLine(`5,000 sockets and ${result.report.connects} refused connects`, daemonS, result.cpuS),
      );
      if (stats.source_tick_ms_max !== undefined)
        t.diagnostic(`procfs ticks: at most ${stats.source_tick_ms_max.toFixed(1)} ms`);
      if (source === "procfs") {
        // Ticks whose connects had all failed (the loop's) looked up the known sockets instead of
        // walking the kernel's table; the session's connect, which did not fail, was found all the same.
        t.diagnostic(
          `socket table walks ${stats.source_netlink_dumps}, spared ${stats.source_netlink_dumps_spared}`,
        );
        assert.ok(stats.source_netlink_dumps_spared > 0, JSON.stringify(stats));
      }
      t.diagnostic(`normal session in the trail ${normal.delayMs} ms after its end`);
    } finally {
      await d.stop();
    }
  });

  test(`${source}: 40 open connections of processes with 2 MB argvs cost bounded memory`, async (t) => {
    if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
    const s = sshd as TestSshd;
    const d = await watching(source, String(s.port));
    const pid = d.pid;
    try {
      const rss0 = rssMb(pid);
      const attack = asNobody(ARGVS, [String(s.port), "40", String(2_000_000), "3"]);
      const opened = await waitFor(
        "40 opens",
        () => {
          const o = d.events.filter(
            (e) => e.event?.action === "connection-opened" && e.user?.name === "nobody",
          );
          return o.length >= 40 ? o : undefined;
        },
        60_000,
      );
      const rss = rssMb(pid);
      const normal = await normalSession(d, s, `normal-${source}`);
      const result = await attack.done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(opened.length, 40);
      for (const e of opened)
        assert.ok(e.ssh_outbound.args_cut.bytes > 1_800_000, JSON.stringify(e.ssh_outbound.args_cut));
      const perConnection = (rss - rss0) / 40;
      t.diagnostic(
        `RSS ${rss0.toFixed(1)} → ${rss.toFixed(1)} MB with 40 such connections open (${perConnection.toFixed(2)} MB each)`,
      );
      // Before issue 19: about 5.5 MB per open connection of such a process.
      assert.ok(perConnection < 1, `${perConnection.toFixed(2)} MB per open connection`);
      assert.ok(
        normal.delayMs <= 1000,
        `the normal session's record came ${normal.delayMs} ms after its end`,
      );
    } finally {
      await d.stop();
    }
  });
}

test("procfs: 100 network namespaces of nobody's do not make every poll slow; a session in ours is logged", async (t) => {
  if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
  const s = sshd as TestSshd;
  const d = await watching("procfs", String(s.port));
  try {
    const attack = asNobody(NAMESPACES_ATTACK, ["100", "6"]);
    await waitFor(
      "nobody's namespaces",
      () => {
        const ns = new Set<string>();
        for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
          try {
            ns.add(readlinkSync(`/proc/${pid}/ns/net`));
          } catch {
            // gone
          }
        }
        return ns.size > 100;
      },
      30_000,
    );
    const run = await runClient([...s.sshArgs, "sleep", "0.3"]);
    assert.equal(run.code, 0, run.stderr);
    const ev = await waitFor(
      "the 300 ms session's close",
      () => d.events.find((e) => e.event?.action === "connection-closed" && e.process?.pid === run.pid),
      15_000,
    );
    assert.equal(ev.ssh_outbound.attribution, "complete");
    const normal = await normalSession(d, s, "normal-namespaces");
    assert.ok(normal.delayMs <= 1000, `the normal session's record came ${normal.delayMs} ms after its end`);
    assert.equal((await attack.done).code, 0);
    await d.stop();
    const stats = d.events.find((e) => e.event?.action === "monitor-stopped")?.ssh_outbound.monitor.stats;
    assert.ok(stats.source_namespace_reads_deferred > 0, JSON.stringify(stats));
    t.diagnostic(
      `ticks at most ${stats.source_tick_ms_max.toFixed(1)} ms, average ${stats.source_tick_ms_avg.toFixed(2)} ms; ${stats.source_namespace_reads_deferred} namespace reads put off`,
    );
  } finally {
    await d.stop();
  }
});
