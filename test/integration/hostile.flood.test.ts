import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { REFUSED_ATTACK } from "../helpers/attacks.ts";
import { needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, kindsAtPort, tellingStats } from "../helpers/daemon.ts";
import {
  asNobody,
  costLine,
  cpuSeconds,
  EBPF_OK,
  HOSTILE_READY,
  HOSTILE_WHY,
  normalSession,
  watching,
} from "../helpers/hostile.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { freePort, startSshd, type TestSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Issue 19, attack 4: floods. As nobody, thousands of refused connects (eBPF sees each one), or
// hundreds of short successful ones (what procfs can see), to a watched port. Beyond the user's rate
// (default 20 a second, bursts of 100) they are counted in connections-suppressed records: every
// attempt is a record or counted in one, the records stay few, and another user's session is logged
// as usual.

// Held a second each, longer than any procfs poll, 100 at a time; with a third argument, each first sends
// it as its identification string (what makes a connection SSH by its protocol).
const HELD = `
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
banner = sys.argv[3].encode() + b"\\r\\n" if len(sys.argv) > 3 else None
REPORT = {"attempts": 0}
batch = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if banner:
        s.sendall(banner)
    batch.append(s)
    REPORT["attempts"] += 1
    if len(batch) == 100:
        time.sleep(1.0)
        for b in batch: b.close()
        batch = []
time.sleep(1.0)
for b in batch: b.close()
`;

let sshd: TestSshd | undefined;
let server: Server | undefined;
/** Answers each connection with an SSH server's identification string, on a port not in --ports. */
let speaking: Server | undefined;
const held: Socket[] = [];
before(async () => {
  if (!HOSTILE_READY) return;
  sshd = await startSshd();
  const hold = (banner?: string) => (s: Socket) => {
    held.push(s);
    s.on("error", () => undefined);
    if (banner) s.write(banner);
  };
  server = createServer(hold());
  speaking = createServer(hold("SSH-2.0-OpenSSH_9.2p1 flood\r\n"));
  for (const srv of [server, speaking]) await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
});
after(() => {
  sshd?.stop();
  for (const s of held) s.destroy();
  server?.close();
  speaking?.close();
});

/** ss's states of a TCP socket that has not yet reached TCP_CLOSE (TIME_WAIT is past it). */
const OPEN_STATES = [
  "established",
  "syn-sent",
  "fin-wait-1",
  "fin-wait-2",
  "close-wait",
  "last-ack",
  "closing",
].flatMap((st) => ["state", st]);

/** The attacker's records and summaries: how many connections each stands for. */
function tally(d: Daemon, port: number): { records: number; suppressed: number; summaries: Ev[] } {
  const ends = d.events.filter(
    (e) =>
      e.user?.name === "nobody" &&
      e.destination?.port === port &&
      /^connection-(closed|failed|unresolved)$/.test(e.event?.action),
  );
  const summaries = d.events.filter(
    (e) => e.event?.action === "connections-suppressed" && e.user?.name === "nobody",
  );
  const suppressed = summaries.reduce((n, e) => n + e.ssh_outbound.suppressed.count, 0);
  return { records: ends.length, suppressed, summaries };
}

/** What the daemon counted of itself at stop (its monitor-stopped record) and said on stderr: where a record went. */
function ownCounts(d: Daemon): string {
  const stats =
    d.events.find((e) => e.event?.action === "monitor-stopped")?.ssh_outbound?.monitor?.stats ?? {};
  return `the daemon's counts: ${tellingStats(stats)}; its stderr: ${d.stderr().slice(-2000)}`;
}

async function flood(
  t: import("node:test").TestContext,
  source: "procfs" | "ebpf",
  script: string,
  port: number,
  n: number,
  opts: { watched?: boolean; args?: string[] } = {},
): Promise<void> {
  const s = sshd as TestSshd;
  // Not watched: only what the connections speak makes them SSH.
  const d = await watching(source, opts.watched === false ? String(s.port) : `${s.port},${port}`);
  const pid = d.pid;
  try {
    const cpu0 = cpuSeconds(pid);
    const t0 = Date.now();
    const attack = asNobody(script, [String(port), String(n), ...(opts.args ?? [])]);
    const normal = await normalSession(d, s, `normal-${source}`);
    const result = await attack.done;
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.report.attempts, n);
    assert.ok(normal.delayMs <= 1000, `the normal session's record came ${normal.delayMs} ms after its end`);
    assert.equal(normal.ev.ssh_outbound.attribution, "complete");
    const daemonS = cpuSeconds(pid) - cpu0;
    // The attacker's sockets close for the kernel (and so for the daemon) only once this process's
    // server has answered their FIN: until then they are open (FIN_WAIT), and a daemon stopped then
    // rightly keeps them as open connections, not closed ones. Wait for the kernel first.
    await waitFor(`the attacker's connections to ${port} closed in the kernel`, () =>
      execFileSync("ss", ["-tnH", ...OPEN_STATES, "dport", "=", `:${port}`])
        .toString()
        .trim() === ""
        ? true
        : undefined,
    );
    // The summaries of a flood come every 10 s and at stop: stop, then count.
    await d.stop();
    const c = tally(d, port);
    assert.equal(
      c.records + c.suppressed,
      n,
      `${c.records} records + ${c.suppressed} counted of ${n} attempts; at that port: ${JSON.stringify(
        kindsAtPort(d.events, port),
      )}; other actions: ${JSON.stringify([...new Set(d.events.map((e) => e.event?.action))])}; ${ownCounts(d)}`,
    );
    assert.ok(c.records <= 100 + 20 * (seconds + 1), `${c.records} records in ${seconds.toFixed(1)} s`);
    assert.ok(c.summaries.length >= 1);
    if (opts.watched === false) {
      const mine = d.events.filter((e) => e.user?.name === "nobody" && e.destination?.port === port);
      assert.ok(
        mine.every((e) => e.ssh_outbound?.detected_by === "protocol"),
        "each record of a connection on a port not watched says it was told by its protocol",
      );
    }
    for (const e of c.summaries) {
      assertValidEvent(e);
      assert.deepEqual(e.ssh_outbound.suppressed.destinations, [{ ip: "127.0.0.1", port }]);
      assert.equal(e.ssh_outbound.suppressed.processes[0]?.name, "python3");
    }
    t.diagnostic(costLine(`${n} attempts in ${seconds.toFixed(1)} s`, daemonS, result.cpuS));
    t.diagnostic(`${c.records} records, ${c.suppressed} counted in ${c.summaries.length} summaries`);
    t.diagnostic(`normal session in the trail ${normal.delayMs} ms after its end`);
  } finally {
    await d.stop();
  }
}

test("ebpf: 3,000 refused connects become at most the rate's records and summaries that count the rest", async (t) => {
  if (!needs(t, HOSTILE_READY && EBPF_OK(), `${HOSTILE_WHY}; and the eBPF probe`)) return;
  await flood(t, "ebpf", REFUSED_ATTACK, await freePort(), 3000);
});

for (const source of ["procfs", "ebpf"] as const) {
  test(`${source}: 300 connections held a second each: the rate's records, the rest counted`, async (t) => {
    if (!needs(t, HOSTILE_READY && (source === "procfs" || EBPF_OK()), HOSTILE_WHY)) return;
    const port = ((server as Server).address() as { port: number }).port;
    await flood(t, source, HELD, port, 300);
  });
}

test("ebpf: 300 connections that speak SSH on a port not watched: the rate's records, the rest counted", async (t) => {
  if (!needs(t, HOSTILE_READY && EBPF_OK(), `${HOSTILE_WHY}; and the eBPF probe`)) return;
  // Each is SSH by what it sends and what the server answers (issue 24): protocol detection is no way
  // around the flood gate.
  const port = ((speaking as Server).address() as { port: number }).port;
  await flood(t, "ebpf", HELD, port, 300, { watched: false, args: ["SSH-2.0-flood"] });
});
