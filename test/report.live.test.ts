import assert from "node:assert/strict";
import { test } from "node:test";
import type { EnrichedEvent, EnrichedSession } from "../src/enrich/enricher.ts";
import { liveRow } from "../src/report/live.ts";
import { enrichedConnection, S, T0 } from "./helpers/enriched.ts";

// `list`'s rows (src/report/live.ts) are made from the records the pipeline made, and read as the
// report's table reads those records: open, started when the client process started, the typed target,
// the destination, the forwards and the last ancestors.

const host = { hostname: "web1", id: "0123456789abcdef0123456789abcdef" };
const who = {
  process: {
    pid: 4242,
    name: "ssh",
    args: ["ssh", "-L", "8080:db:80", "alice@db1"],
    startNs: T0,
    user: "alice",
  },
  ancestry: [
    { pid: 1, name: "systemd", args: [], user: "root", startNs: 0n },
    { pid: 900, name: "bash", args: ["bash"], user: "alice", startNs: T0 - S },
  ],
  target: {
    client: "ssh",
    user: "alice",
    host: "db1",
    jump: [],
    forwards: { local: ["8080:db:80"], remote: [], dynamic: [] },
  },
  attribution: "complete" as const,
};

test("an open connection: its client's start, typed target, destination, forwards and ancestry", () => {
  const ev = enrichedConnection("0190a0a0-0000-7000-8000-000000000001", "opened", {
    ...who,
    source: "procfs",
    timeNs: T0 + 5n * S,
    startNs: T0 + 5n * S,
    observed: "already-open",
  } as Partial<EnrichedEvent>);
  const row = liveRow(ev, host);
  assert.equal(row.status, "open");
  assert.equal(row.start, "2026-05-28T20:26:40.000000000Z", "when the client started, not when list looked");
  assert.equal(row.target, "alice@db1");
  assert.deepEqual([row.destIp, row.destPort], ["2001:db8::1", 22]);
  assert.equal(row.forwards, "L:8080:db:80");
  assert.equal(row.ancestry, "systemd>bash>ssh");
  assert.deepEqual([row.user, row.pid, row.host, row.hostId], ["alice", 4242, "web1", host.id]);
});

test("a session over a master: open, with the master's connection it rides", () => {
  const ev = {
    ...who,
    id: "0190a0a0-0000-7000-8000-000000000002",
    source: "procfs",
    action: "session-ended",
    timeNs: T0 + 9n * S,
    startNs: T0 + 2n * S,
    outcome: "unknown",
    viaConnectionId: "0190a0a0-0000-7000-8000-000000000001",
    session: { key: "4242:1", owner: { pid: 4242, comm: "ssh" }, masterPid: 400, masterSockets: [] },
  } as EnrichedSession;
  const row = liveRow(ev, host);
  assert.deepEqual([row.status, row.end, row.durationMs], ["open", undefined, undefined]);
  assert.equal(row.via, "0190a0a0-0000-7000-8000-000000000001");
  assert.equal(row.destIp, undefined);
});
