import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConnectionRecord, MonitorRecord } from "../src/report/records.ts";
import { type Gap, type Notice, type Session, SessionJoiner } from "../src/report/sessions.ts";

// Records joined into sessions and gaps (src/report/sessions.ts): a session ends with its close, a
// record delivered twice is taken once, a daemon that stopped leaves a gap and its open sessions end
// unknown, one that died without a word leaves a gap from its last record.

const conn = (id: string, action: ConnectionRecord["action"], time: string): ConnectionRecord => ({
  kind: "connection",
  action,
  id,
  time,
  start: "2026-11-25T10:00:00Z",
  host: "web1",
  ancestry: ["bash"],
  process: "ssh",
  user: "alice",
});
const mon = (action: MonitorRecord["action"], time: string, reason?: string): MonitorRecord => ({
  kind: "monitor",
  action,
  time,
  host: "web1",
  ...(reason ? { reason } : {}),
});

function joiner() {
  const out: (Session | Gap | Notice)[] = [];
  const skipped: string[] = [];
  const j = new SessionJoiner(
    (x) => void out.push(x),
    (r) => void skipped.push(r),
  );
  return { j, out, skipped };
}

test("open then close is one closed session with its duration; a repeated record is a duplicate", () => {
  const { j, out, skipped } = joiner();
  j.push(conn("a", "opened", "2026-11-25T10:00:00Z"));
  j.push(conn("a", "opened", "2026-11-25T10:00:00Z"));
  j.push(conn("a", "closed", "2026-11-25T10:00:30Z"));
  j.push(conn("a", "closed", "2026-11-25T10:00:30Z"));
  j.end();
  assert.equal(out.length, 1);
  const s = out[0] as Session;
  assert.deepEqual([s.status, s.durationMs], ["closed", 30_000]);
  assert.deepEqual(skipped, ["duplicate", "duplicate"]);
});

test("a daemon stopped and started again: a gap with its reason; sessions it left open end unknown", () => {
  const { j, out } = joiner();
  j.push(mon("monitor-started", "2026-11-25T09:00:00Z"));
  j.push(conn("a", "opened", "2026-11-25T10:00:00Z"));
  j.push(mon("monitor-stopped", "2026-11-25T11:00:00Z", "SIGTERM"));
  j.push(mon("monitor-started", "2026-11-25T12:00:00Z"));
  j.end();
  const gap = out.find((x) => x.type === "gap") as Gap;
  assert.deepEqual(
    [gap.from, gap.to, gap.reason],
    ["2026-11-25T11:00:00Z", "2026-11-25T12:00:00Z", "monitor stopped (SIGTERM)"],
  );
  assert.equal((out.find((x) => x.type === "session") as Session).status, "unknown");
});

test("a daemon that died without monitor-stopped: the gap runs from its last record", () => {
  const { j, out } = joiner();
  j.push(mon("monitor-started", "2026-11-25T09:00:00Z"));
  j.push(conn("a", "closed", "2026-11-25T10:00:00Z"));
  j.push(mon("monitor-started", "2026-11-25T12:00:00Z"));
  j.end();
  const gap = out.find((x) => x.type === "gap") as Gap;
  assert.deepEqual([gap.from, gap.to], ["2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z"]);
  assert.match(gap.reason, /killed or crashed/);
});
