import assert from "node:assert/strict";
import { test } from "node:test";
import { type KernelEvent, KernelTable } from "../src/sources/ebpf/kernel-table.ts";
import type { Observation, SocketFacts } from "../src/sources/types.ts";

const SSH = 22;

function table() {
  const out: Observation[] = [];
  const t = new KernelTable((o) => out.push(o), [SSH]);
  const kinds = () =>
    out.map((o) => `${o.type}:${"key" in o ? o.key : o.type === "connect" ? o.socket.key : ""}`);
  return { t, out, kinds };
}

const connect = (n: number, dport = SSH): KernelEvent => ({
  kind: "connect",
  sk: `sk${n}`,
  pid: 100 + n,
  tid: 100 + n,
  uid: 0,
  ppid: 1,
  netns: 4026531840,
  inode: 1000 + n,
  family: "ipv4",
  dport,
  daddr: "127.0.0.1",
  timeNs: BigInt(n) * 10n,
  comm: "ssh",
});
const est = (n: number): KernelEvent => ({
  kind: "established",
  sk: `sk${n}`,
  sport: 40000 + n,
  saddr: "127.0.0.1",
  timeNs: BigInt(n) * 10n + 1n,
});
const close = (n: number, dport = SSH): Extract<KernelEvent, { kind: "close" }> => ({
  kind: "close",
  sk: `sk${n}`,
  oldState: "FIN_WAIT1",
  bytesAcked: 10,
  bytesReceived: 20,
  timeNs: BigInt(n) * 10n + 2n,
  family: "ipv4",
  sport: 40000 + n,
  dport,
  netns: 4026531840,
  saddr: "127.0.0.1",
  daddr: "127.0.0.1",
});
const proc = (n: number, state: SocketFacts["state"] = "ESTABLISHED", port = SSH): SocketFacts => ({
  key: `ino:${1000 + n}`,
  inode: 1000 + n,
  netns: 4026531840,
  family: "ipv4",
  local: { ip: "127.0.0.1", port: 40000 + n },
  remote: { ip: "127.0.0.1", port },
  state,
});

test("connect → established → close becomes the same three observations, with bytes", () => {
  const { t, out, kinds } = table();
  for (const e of [connect(1), est(1), close(1)]) t.event(e);
  assert.deepEqual(kinds(), ["connect:ino:1001", "established:ino:1001", "close:ino:1001"]);
  const c = out[2] as Extract<Observation, { type: "close" }>;
  assert.deepEqual([c.bytesSent, c.bytesReceived], [10, 20]);
  assert.equal(t.stats().tracked, 0);
});

test("an established or close without its connect (the connect record was lost) changes nothing, counted", () => {
  const { t, kinds } = table();
  t.event(est(1));
  t.event(close(1));
  t.event(connect(1));
  assert.deepEqual(kinds(), ["connect:ino:1001"], "never applied to a later socket at the same address");
  assert.equal(t.stats().orphans, 2);
});

test("a connect at a kernel address still tracked ends the socket that had it (its close was lost)", () => {
  const { t, out } = table();
  t.event(connect(1));
  t.event(est(1));
  t.event({ ...connect(2), sk: "sk1" });
  const closes = out.filter((o) => o.type === "close") as Extract<Observation, { type: "close" }>[];
  assert.deepEqual(
    closes.map((c) => [c.key, c.outcome, c.afterNs]),
    [["ino:1001", "unknown", 10n]],
  );
  t.event({ ...close(2), sk: "sk1" });
  assert.deepEqual(out.at(-1)?.type === "close" && out.at(-1), {
    type: "close",
    timeNs: 22n,
    key: "ino:1002",
    oldState: "FIN_WAIT1",
    bytesSent: 10,
    bytesReceived: 20,
  });
  assert.deepEqual([t.stats().tracked, t.stats().by_sk, t.stats().repaired], [0, 0, 1]);
});

test("after lost events, the next check closes what is gone, outcome unknown, and counts it as repaired", () => {
  const { t, out } = table();
  for (const n of [1, 2]) {
    t.event(connect(n));
    t.event(est(n));
  }
  t.lost(50n);
  assert.equal(t.needsCheck(), true);
  t.check([proc(2)], 60n);
  const c = out.at(-1) as Extract<Observation, { type: "close" }>;
  assert.deepEqual([c.type, c.key, c.outcome, c.afterNs], ["close", "ino:1001", "unknown", 50n]);
  assert.equal(t.stats().repaired, 1);
  t.check([proc(2)], 70n);
  t.check([proc(2)], 80n);
  assert.equal(t.needsCheck(), false, "three checks after the loss; ino:1002 is watched by the probe");
});

test("a connect read after the first check whose close was lost is repaired once nothing waits to be read", () => {
  const { t, out } = table();
  t.event(connect(1));
  t.lost(50n);
  t.check([], 60n);
  // Still in the hand-over queue at the first check: its close was among the lost records.
  t.event(connect(2));
  t.event(est(2));
  // Records still wait (in the hand-over queue or the kernel's ring): its close may be one of them.
  t.check([], 70n, false);
  t.check([], 80n, false);
  assert.equal(
    out.some((o) => o.type === "close" && o.key === "ino:1002"),
    false,
    "not repaired while records wait",
  );
  assert.equal(t.needsCheck(), true, "not drained yet: checks go on");
  t.check([], 90n, true);
  const c = out.at(-1) as Extract<Observation, { type: "close" }>;
  assert.deepEqual([c.key, c.outcome, c.afterNs], ["ino:1002", "unknown", 50n]);
  assert.equal(t.needsCheck(), false);
});

test("a close that was only waiting to be read is not repaired: it comes as it was", () => {
  const { t, out } = table();
  t.event(connect(1));
  t.event(est(1));
  t.lost(50n);
  // The socket is gone from /proc, and its close is still in the kernel's ring.
  t.check([], 60n, false);
  t.event(close(1));
  t.check([], 70n, true);
  const closes = out.filter((o) => o.type === "close") as Extract<Observation, { type: "close" }>[];
  assert.equal(closes.length, 1);
  assert.equal(closes[0]?.outcome, undefined, "its own close, not a repair");
  assert.equal(t.stats().repaired, 0);
});

test("while the probe is down a /proc picture stands in: new sockets connect, gone ones close", () => {
  const { t, kinds } = table();
  t.event(connect(1));
  t.event(est(1));
  t.probeDown();
  t.picture([proc(1), proc(2, "SYN_SENT")], 100n, false);
  t.picture([proc(2)], 150n, false);
  assert.deepEqual(kinds(), [
    "connect:ino:1001",
    "established:ino:1001",
    "connect:ino:1002",
    "close:ino:1001",
    "established:ino:1002",
  ]);
  // Back up: the new probe reports the close of a socket on an SSH port by its tuple.
  t.event(close(2));
  assert.deepEqual(kinds().at(-1), "close:ino:1002");
  assert.equal(t.stats().tracked, 0);
});

test("1,000 restarts of the probe leave every map the size of the open connections", () => {
  const { t } = table();
  // Three open through it all: one seen connecting, one on another port (polled), one from the start.
  t.picture([proc(3)], 1n, true);
  t.event(connect(1));
  t.event(est(1));
  t.event(connect(2, 2222));
  t.event(est(2));
  const open = [proc(1), proc(2, "ESTABLISHED", 2222), proc(3)];
  for (let i = 0; i < 1000; i++) {
    t.probeDown();
    t.picture(open, BigInt(i), false);
    // A short connection each time, seen and closed by the probe, and an inbound close never ours.
    t.event(connect(10 + i));
    t.event(est(10 + i));
    t.event(close(10 + i));
    t.event({ ...close(5000 + i), sport: SSH, dport: 50000 });
    t.check(open, BigInt(i));
  }
  const s = t.stats();
  assert.deepEqual([s.tracked, s.by_sk, s.by_tuple], [3, 0, 3]);
  assert.equal(s.orphans, 1000, "the inbound closes, never ours");
});

test("after a loss, a socket whose connect was lost is recovered from the check, once nothing waits to be handed over", () => {
  const { t, out } = table();
  t.event(connect(1));
  t.lost(5n);
  // Socket 2 connected among the lost records; the check sees it in the kernel's tables.
  t.check([proc(1), proc(2)], 50n, false);
  assert.equal(
    out.filter((o) => o.type === "existing").length,
    0,
    "not while records are still on their way",
  );
  t.check([proc(1), proc(2)], 60n, true);
  const rec = out.filter((o) => o.type === "existing");
  assert.equal(rec.length, 1);
  const e = rec[0] as Extract<Observation, { type: "existing" }>;
  assert.deepEqual(
    e.sockets.map((s) => s.key),
    ["ino:1002"],
  );
  assert.deepEqual(e.recovered, { afterNs: 5n });
  t.check([proc(1), proc(2)], 70n, true);
  assert.equal(out.filter((o) => o.type === "existing").length, 1, "found once");
  assert.equal(t.stats().recovered, 1);
});
