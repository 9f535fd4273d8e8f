import assert from "node:assert/strict";
import { test } from "node:test";
import type { MuxSession, SourceName } from "../src/sources/types.ts";
import { type SessionEvent, SessionTracker } from "../src/track/sessions.ts";

// Sessions over a control master's connection (src/track/sessions.ts): one UUIDv7 from start to end,
// the master's connection named when we log it, a repeated start taken once, an end found by polling
// given as a window, and those still running at stop ended with their end unknown.

const session = (key: string, masterSockets = [41]): MuxSession => ({
  key,
  owner: { pid: 500, comm: "ssh", uid: 1000 },
  masterPid: 400,
  masterSockets,
  controlPath: "/tmp/cm-%C",
});

function tracker(source: { name: SourceName } = { name: "ebpf" }) {
  const out: SessionEvent[] = [];
  const t = new SessionTracker(
    () => source.name,
    (e) => out.push(e),
    (sockets) => (sockets.includes(41) ? "master-connection-id" : undefined),
  );
  return { t, out };
}

test("a session's start and end carry one id, the master's connection, and its times", () => {
  const { t, out } = tracker();
  assert.equal(t.observe({ type: "session-open", timeNs: 10n, session: session("s1") }), true);
  assert.equal(t.observe({ type: "session-open", timeNs: 11n, session: session("s1") }), true);
  assert.equal(t.openCount, 1, "a start seen twice is one session");
  t.observe({ type: "session-close", timeNs: 20n, key: "s1" });
  assert.deepEqual(
    out.map((e) => e.action),
    ["session-started", "session-ended"],
  );
  const [start, end] = out as [SessionEvent, SessionEvent];
  assert.match(start.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(end.id, start.id);
  assert.equal(end.viaConnectionId, "master-connection-id");
  assert.deepEqual([end.startNs, end.endNs, end.endWindow], [10n, 20n, undefined]);
  assert.equal(t.openCount, 0);
});

test("an end found by polling is a window; a close of an unknown session is taken and ignored", () => {
  const { t, out } = tracker();
  t.observe({ type: "session-open", timeNs: 10n, session: session("s1", [99]) });
  t.observe({ type: "session-close", timeNs: 30n, key: "s1", afterNs: 25n });
  assert.equal(t.observe({ type: "session-close", timeNs: 31n, key: "nobody" }), true);
  const end = out[1] as SessionEvent;
  assert.deepEqual(end.endWindow, { afterNs: 25n, beforeNs: 30n });
  assert.equal(end.viaConnectionId, undefined, "a master whose connection we do not log is not named");
  assert.equal(out.length, 2);
});

test("at stop, running sessions end with an unknown outcome; other observations are not its own", () => {
  const source = { name: "ebpf" as SourceName };
  const { t, out } = tracker(source);
  t.observe({ type: "session-open", timeNs: 10n, session: session("s1") });
  source.name = "procfs";
  assert.equal(t.observe({ type: "close", timeNs: 12n, key: "ino:1", oldState: "ESTABLISHED" }), false);
  t.stop(50n);
  const end = out[1] as SessionEvent;
  assert.deepEqual(
    [end.action, end.outcome, end.timeNs, end.source],
    ["session-ended", "unknown", 50n, "procfs"],
  );
  assert.equal(t.openCount, 0);
});
