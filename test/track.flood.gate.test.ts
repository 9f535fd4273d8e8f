import assert from "node:assert/strict";
import { test } from "node:test";
import type { FloodPolicy } from "../src/config.ts";
import { FloodGate, SUMMARY_LIST_MAX, type SuppressedSummary } from "../src/track/flood.ts";
import type { ConnectionEvent } from "../src/track/tracker.ts";

const S = 1_000_000_000n;
const policy: FloodPolicy = { rate: 2, burst: 3, holdMs: 2000, windowMs: 10_000, maxHeld: 100 };

function ev(
  id: string,
  action: ConnectionEvent["action"],
  atS: number,
  uid = 1000,
  port = 22,
): ConnectionEvent {
  const t = BigInt(Math.round(atS * 1e9));
  return {
    id,
    source: "ebpf",
    action,
    timeNs: t,
    startNs: t,
    observed: "live",
    socket: {
      key: id,
      family: "ipv4",
      remote: { ip: "127.0.0.1", port },
      state: "SYN_SENT",
      uid,
      owner: { pid: 4000 + Number(id.slice(1)), comm: "python3" },
    },
  };
}

function gate(p = policy) {
  const passed: ConnectionEvent[] = [];
  const summaries: SuppressedSummary[] = [];
  const g = new FloodGate({ pass: (e) => passed.push(e), summary: (s) => summaries.push(s) }, p);
  return { g, passed, summaries };
}

test("within a user's burst every connection passes; beyond it, ended ones are counted in one summary", () => {
  const { g, passed, summaries } = gate();
  for (let i = 0; i < 10; i++) {
    g.admit(ev(`c${i}`, "attempted", 0, 1000, 22 + (i % 4)));
    g.admit(ev(`c${i}`, "failed", 0.001, 1000, 22 + (i % 4)));
  }
  assert.deepEqual([...new Set(passed.map((e) => e.id))], ["c0", "c1", "c2"]);
  g.tick(11n * S, "ebpf");
  assert.equal(summaries.length, 1);
  const s = summaries[0] as SuppressedSummary;
  assert.equal(s.count, 7);
  assert.deepEqual(s.outcomes, { closed: 0, failed: 7, unresolved: 0 });
  assert.equal(s.uid, 1000);
  assert.equal(s.destinationCount, 4);
  assert.equal(s.processCount, 7);
  assert.equal(g.counts.suppressed, 7);
});

test("a held connection still open after the hold time passes, with its events in order", () => {
  const { g, passed, summaries } = gate();
  for (let i = 0; i < 3; i++) g.admit(ev(`c${i}`, "attempted", 0));
  g.admit(ev("c9", "attempted", 0.1));
  g.admit(ev("c9", "opened", 0.2));
  assert.equal(passed.filter((e) => e.id === "c9").length, 0, "held");
  g.tick(1n * S, "ebpf");
  assert.equal(passed.filter((e) => e.id === "c9").length, 0, "still held before the hold time");
  g.tick(3n * S, "ebpf");
  assert.deepEqual(
    passed.filter((e) => e.id === "c9").map((e) => e.action),
    ["attempted", "opened"],
  );
  g.admit(ev("c9", "closed", 5));
  assert.equal(passed.at(-1)?.action, "closed", "its end follows");
  g.flush(6n * S, "ebpf");
  assert.equal(summaries.length, 0, "nothing was suppressed");
});

test("users have their own buckets, and connections open before we looked always pass", () => {
  const { g, passed } = gate();
  for (let i = 0; i < 5; i++) g.admit(ev(`c${i}`, "attempted", 0, 1000));
  g.admit(ev("c20", "attempted", 0, 0));
  const old = { ...ev("c21", "opened", 0, 1000), observed: "already-open" as const };
  g.admit(old);
  assert.ok(
    passed.some((e) => e.id === "c20"),
    "another user is not limited",
  );
  assert.ok(
    passed.some((e) => e.id === "c21"),
    "an existing connection is not a flood",
  );
});

test("the bucket refills at the rate", () => {
  const { g, passed } = gate();
  for (let i = 0; i < 3; i++) g.admit(ev(`c${i}`, "attempted", 0));
  g.admit(ev("c3", "attempted", 0.1));
  g.admit(ev("c4", "attempted", 0.6)); // 0.6 s at 2/s: one token back
  assert.deepEqual(
    passed.map((e) => e.id),
    ["c0", "c1", "c2", "c4"],
  );
});

test("a summary lists at most SUMMARY_LIST_MAX processes and destinations and counts them all", () => {
  const { g, summaries } = gate({ ...policy, burst: 1 });
  g.admit(ev("c0", "attempted", 0));
  for (let i = 1; i <= 40; i++) {
    g.admit(ev(`c${i}`, "attempted", 0, 1000, 1000 + i));
    g.admit(ev(`c${i}`, "failed", 0, 1000, 1000 + i));
  }
  g.flush(1n * S, "ebpf");
  const s = summaries[0] as SuppressedSummary;
  assert.equal(s.count, 40);
  assert.equal(s.destinations.length, SUMMARY_LIST_MAX);
  assert.equal(s.destinationCount, 40);
  assert.equal(s.processes.length, SUMMARY_LIST_MAX);
  assert.equal(s.processCount, 40);
});

test("past maxHeld a connection beyond the rate is counted at once; rate 0 turns the gate off", () => {
  const { g, summaries } = gate({ ...policy, burst: 1, maxHeld: 2 });
  for (let i = 0; i < 6; i++) g.admit(ev(`c${i}`, "attempted", 0));
  assert.equal(g.heldCount, 2);
  for (let i = 0; i < 6; i++) g.admit(ev(`c${i}`, "failed", 0.5));
  g.flush(1n * S, "ebpf");
  assert.equal(summaries[0]?.count, 5, "three counted at once (their ends not again), two held and ended");
  const off = gate({ ...policy, rate: 0 });
  for (let i = 0; i < 50; i++) off.g.admit(ev(`c${i}`, "attempted", 0));
  assert.equal(off.passed.length, 50);
});

test("connects the kernel counted join the same user's summary: count, failures, destinations, processes, interval", () => {
  const { g, summaries } = gate();
  for (let i = 0; i < 5; i++) {
    g.admit(ev(`c${i}`, "attempted", 1, 1000));
    g.admit(ev(`c${i}`, "failed", 1.001, 1000));
  }
  const dest = (port: number, firstS: number, lastS: number, pid: number) => ({
    remote: { ip: "127.0.0.1", port },
    count: 10,
    firstNs: BigInt(firstS) * S,
    lastNs: BigInt(lastS) * S,
    pid,
    comm: "python3",
  });
  g.countedBySource({
    uid: 1000,
    count: 25,
    unlisted: 5,
    lastNs: 4n * S,
    destinations: [dest(22, 0, 3, 4001), dest(2222, 2, 4, 9999)],
  });
  // Another user's counts are theirs.
  g.countedBySource({
    uid: 1001,
    count: 3,
    unlisted: 0,
    lastNs: 2n * S,
    destinations: [dest(22, 2, 2, 5000)],
  });
  g.tick(13n * S, "ebpf");
  const mine = summaries.find((s) => s.uid === 1000) as SuppressedSummary;
  assert.equal(mine.count, 2 + 25);
  assert.deepEqual(mine.outcomes, { closed: 0, failed: 27, unresolved: 0 });
  assert.equal(mine.startNs, 0n, "the interval starts at the first counted connect");
  assert.equal(mine.endNs, 4n * S);
  assert.deepEqual(
    mine.destinations.map((d) => d.port),
    [22, 2222],
  );
  assert.ok(mine.processes.some((p) => p.pid === 9999 && p.name === "python3"));
  assert.equal(mine.countCapped, true, "unlisted connects make the lists a lower bound");
  const theirs = summaries.find((s) => s.uid === 1001) as SuppressedSummary;
  assert.equal(theirs.count, 3);
  assert.equal(theirs.countCapped, undefined);
  assert.equal(g.counts.suppressed, 2 + 25 + 3);
});
