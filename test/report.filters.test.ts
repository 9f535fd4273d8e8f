import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidOptionError } from "../src/errors.ts";
import { matches, parseTime } from "../src/report/filters.ts";
import type { Session } from "../src/report/sessions.ts";

// report's filters (src/report/filters.ts): times as ISO or "ago", and which sessions match.

const s: Session = {
  type: "session",
  id: "x",
  host: "web1",
  hostId: "a".repeat(32),
  status: "closed",
  start: "2026-11-25T10:00:00.000000000Z",
  end: "2026-11-25T11:00:00.000000000Z",
  user: "alice",
  process: "ssh",
  target: "alice@db1:2222",
  targetHost: "db1",
  destIp: "10.0.0.5",
  destPort: 2222,
  ancestry: "bash>ssh",
};

test("a time is ISO 8601 or an amount ago; anything else is a usage error naming the option", () => {
  const now = Date.parse("2026-11-25T12:00:00Z");
  assert.equal(parseTime("--since", "2h", now), Date.parse("2026-11-25T10:00:00Z"));
  assert.equal(parseTime("--since", "2026-11-25T13:00:00Z", now), Date.parse("2026-11-25T13:00:00Z"));
  assert.throws(
    () => parseTime("--since", "yesterday", now),
    (e: unknown) =>
      e instanceof InvalidOptionError && e.message.includes("--since") && e.message.includes("yesterday"),
  );
});

test("a session matches when it overlaps [since, until] and every other filter given", () => {
  assert.equal(matches(s, {}), true);
  assert.equal(matches(s, { since: Date.parse("2026-11-25T10:30:00Z") }), true, "still going on then");
  assert.equal(matches(s, { since: Date.parse("2026-11-25T11:30:00Z") }), false);
  assert.equal(matches(s, { until: Date.parse("2026-11-25T09:00:00Z") }), false);
  assert.equal(matches(s, { user: "bob" }), false);
  assert.equal(matches(s, { hosts: ["a".repeat(32)] }), true, "a host by its machine id");
  assert.equal(matches(s, { failed: true }), false);
});

test("--target matches the typed target with or without its user, the host typed, the address or address:port", () => {
  for (const target of ["alice@db1:2222", "db1:2222", "db1", "10.0.0.5", "10.0.0.5:2222"])
    assert.equal(matches(s, { target }), true, target);
  assert.equal(matches(s, { target: "db2" }), false);
});
