import assert from "node:assert/strict";
import { test } from "node:test";
import type { SocketFacts } from "../src/sources/types.ts";
import { type CarriedConnection, type ConnectionEvent, Tracker } from "../src/track/tracker.ts";

const sock = (key: string, state: SocketFacts["state"] = "ESTABLISHED"): SocketFacts => ({
  key,
  family: "ipv4",
  local: { ip: "127.0.0.1", port: 40000 },
  remote: { ip: "127.0.0.1", port: 22 },
  state,
});

function tracker(source: "procfs" | "ebpf" = "procfs") {
  const out: ConnectionEvent[] = [];
  const t = new Tracker(
    () => source,
    (e) => out.push(e),
  );
  const actions = () => out.filter((e) => e.action !== "attempted").map((e) => `${e.action}:${e.socket.key}`);
  return { t, out, actions };
}

test("snapshots: a socket seen opens once, closes once when it leaves, one UUIDv7 throughout", () => {
  const { t, out, actions } = tracker();
  t.observe({ type: "snapshot", timeNs: 1n, sockets: [], initial: true });
  t.observe({ type: "snapshot", timeNs: 2n, sockets: [sock("a")], initial: false });
  t.observe({ type: "snapshot", timeNs: 3n, sockets: [sock("a")], initial: false });
  t.observe({ type: "snapshot", timeNs: 4n, sockets: [], initial: false });
  assert.deepEqual(actions(), ["opened:a", "closed:a"]);
  const ids = new Set(out.map((e) => e.id));
  assert.equal(ids.size, 1);
  const closed = out.at(-1) as ConnectionEvent;
  assert.equal(closed.startNs, 2n);
  assert.equal(closed.endNs, 4n);
  assert.equal(closed.observed, "live");
});

test("snapshots: sockets present at the first one are marked already-open", () => {
  const { t, out } = tracker();
  t.observe({ type: "snapshot", timeNs: 1n, sockets: [sock("a")], initial: true });
  assert.equal(out.find((e) => e.action === "opened")?.observed, "already-open");
});

test("snapshots: SYN_SENT waits; leaving before it is ever established is unresolved, never a failure", () => {
  const { t, out, actions } = tracker();
  t.observe({
    type: "snapshot",
    timeNs: 1n,
    sockets: [sock("a", "SYN_SENT"), sock("b", "SYN_SENT")],
    initial: false,
  });
  assert.deepEqual(actions(), []);
  t.observe({ type: "snapshot", timeNs: 2n, sockets: [sock("b")], initial: false });
  assert.deepEqual(actions(), ["opened:b", "unresolved:a"]);
  assert.equal(out.at(-1)?.outcome, "unknown", "a poll cannot tell a refused connect from a 10 ms session");
});

test("events: connect → established → close gives opened and closed with bytes; connect → close is failed", () => {
  const { t, out, actions } = tracker("ebpf");
  const { local: _l, ...noLocal } = sock("k1", "SYN_SENT");
  t.observe({ type: "connect", timeNs: 10n, socket: noLocal });
  t.observe({ type: "established", timeNs: 11n, key: "k1", local: { ip: "127.0.0.1", port: 5555 } });
  t.observe({
    type: "close",
    timeNs: 20n,
    key: "k1",
    oldState: "FIN_WAIT1",
    bytesSent: 100,
    bytesReceived: 2_000_000,
  });
  t.observe({ type: "connect", timeNs: 30n, socket: { ...noLocal, key: "k2" } });
  t.observe({ type: "close", timeNs: 31n, key: "k2", oldState: "SYN_SENT" });
  t.observe({ type: "close", timeNs: 32n, key: "unknown", oldState: "ESTABLISHED" });
  assert.deepEqual(actions(), ["opened:k1", "closed:k1", "failed:k2"]);
  const closed = out.find((e) => e.action === "closed") as ConnectionEvent;
  assert.equal(closed.bytesReceived, 2_000_000);
  assert.equal(closed.socket.local?.port, 5555);
  assert.equal(closed.endNs, 20n);
  assert.equal(closed.startNs, 10n);
  assert.equal(
    out.filter((e) => e.action === "attempted").length,
    2,
    "attempts are announced for enrichment",
  );
});

test("ids are UUIDv7 and increase with time", () => {
  const { t, out } = tracker();
  for (let i = 0; i < 50; i++)
    t.observe({ type: "snapshot", timeNs: BigInt(i), sockets: [sock(`s${i}`)], initial: false });
  const ids = out.filter((e) => e.action === "opened").map((e) => e.id);
  assert.equal(new Set(ids).size, 50);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  assert.deepEqual([...ids].sort(), ids);
});

const carried = (key: string, id: string, ownerStart?: string): CarriedConnection => ({
  key,
  id,
  startNs: "5",
  observed: "live",
  socket: { ...sock(key), owner: { pid: 4242 } },
  ...(ownerStart ? { ownerStart } : {}),
});

test("restart: a socket the last run had open continues under its id and start, with no second opened", () => {
  const out: ConnectionEvent[] = [];
  const t = new Tracker(
    () => "procfs",
    (e) => out.push(e),
    { ownerStart: () => "777" },
  );
  t.carryOver([carried("a", "id-a", "777"), carried("b", "id-b", "777")], 9n);
  t.observe({
    type: "snapshot",
    timeNs: 20n,
    sockets: [{ ...sock("a"), owner: { pid: 4242 } }],
    initial: true,
  });
  assert.equal(t.settle(21n), 1, "b is gone: ended while we were down");
  const written = out.filter((e) => e.action !== "attempted");
  assert.deepEqual(
    written.map((e) => [e.action, e.id, e.observed, e.outcome]),
    [["closed", "id-b", "closed-while-down", "unknown"]],
  );
  assert.deepEqual(written[0]?.endWindow, { afterNs: 9n, beforeNs: 21n });
  t.observe({ type: "snapshot", timeNs: 30n, sockets: [], initial: false });
  const closeA = out.at(-1) as ConnectionEvent;
  assert.deepEqual([closeA.action, closeA.id, closeA.startNs], ["closed", "id-a", 5n]);
  assert.equal(t.openConnections().length, 0);
});

test("restart: a reused inode with another tuple, or another owner start (pid reused), is a new connection", () => {
  for (const [facts, start] of [
    [{ ...sock("a"), local: { ip: "127.0.0.1", port: 40001 } }, "777"],
    [sock("a"), "888"],
  ] as const) {
    const out: ConnectionEvent[] = [];
    const t = new Tracker(
      () => "procfs",
      (e) => out.push(e),
      { ownerStart: () => start },
    );
    t.carryOver([carried("a", "id-a", "777")], 9n);
    t.observe({
      type: "snapshot",
      timeNs: 20n,
      sockets: [{ ...facts, owner: { pid: 4242 } }],
      initial: true,
    });
    t.settle(21n);
    const written = out.filter((e) => e.action !== "attempted");
    assert.deepEqual(
      written.map((e) => [e.action, e.observed]),
      [
        ["opened", "already-open"],
        ["closed", "closed-while-down"],
      ],
    );
    assert.notEqual(written[0]?.id, "id-a");
    assert.equal(written[1]?.id, "id-a");
  }
});

test("the state to save holds exactly the open connections, and says when it changed", () => {
  const { t } = tracker();
  t.observe({ type: "snapshot", timeNs: 1n, sockets: [sock("a"), sock("b", "SYN_SENT")], initial: false });
  assert.equal(t.dirty, true);
  assert.deepEqual(
    t.openConnections().map((c) => c.key),
    ["a"],
  );
  assert.equal(t.dirty, false);
  t.observe({ type: "snapshot", timeNs: 2n, sockets: [sock("a"), sock("b", "SYN_SENT")], initial: false });
  assert.equal(t.dirty, false, "nothing changed");
});
