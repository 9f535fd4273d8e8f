import assert from "node:assert/strict";
import { test } from "node:test";
import { Grouper, hostLabel } from "../src/report/by.ts";
import type { Session } from "../src/report/sessions.ts";

// report --by (src/report/by.ts): sessions counted per key, failures, first and last, bytes.

const row = (user: string, start: string, extra: Partial<Session> = {}): Session => ({
  type: "session",
  id: `${user}-${start}`,
  host: "web1",
  status: "closed",
  start,
  ancestry: "ssh",
  user,
  ...extra,
});

test("per user: sessions, failures, first start and last end, bytes; most sessions first", () => {
  const g = new Grouper("user");
  g.add(row("alice", "2026-11-25T10:00:00Z", { end: "2026-11-25T10:05:00Z", sent: 100, received: 900 }));
  g.add(row("alice", "2026-11-25T09:00:00Z", { status: "failed" }));
  g.add(row("bob", "2026-11-25T11:00:00Z"));
  assert.deepEqual(g.result(), [
    {
      key: "alice",
      sessions: 2,
      failed: 1,
      first: "2026-11-25T09:00:00Z",
      last: "2026-11-25T10:05:00Z",
      bytes: 1000,
    },
    {
      key: "bob",
      sessions: 1,
      failed: 0,
      first: "2026-11-25T11:00:00Z",
      last: "2026-11-25T11:00:00Z",
      bytes: 0,
    },
  ]);
});

test("per target: the typed target, else the destination (IPv6 bracketed); hosts told apart by machine id", () => {
  const g = new Grouper("target");
  g.add(row("a", "2026-11-25T10:00:00Z", { destIp: "2001:db8::1", destPort: 22 }));
  g.add(row("a", "2026-11-25T10:00:00Z", { target: "db1" }));
  assert.deepEqual(
    g.result().map((x) => x.key),
    ["[2001:db8::1]:22", "db1"],
  );
  assert.equal(hostLabel({ host: "web1", hostId: "1234567890abcdef1234567890abcdef" }), "web1 (12345678)");
  assert.equal(hostLabel({ host: "web1" }), "web1");
});
