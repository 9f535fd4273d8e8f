import assert from "node:assert/strict";
import { test } from "node:test";
import { formatJson } from "../src/format/json.ts";
import type { MonitorEvent, SuppressedSummary } from "../src/format/record.ts";
import { formatText } from "../src/format/text.ts";
import { assertValidEvent } from "./helpers/schema.ts";

const S = 1_000_000_000n;
const T0 = 1_780_000_000n * S;
const ctx = { hostname: "web1", hostId: "0123456789abcdef0123456789abcdef" };

const summary: SuppressedSummary = {
  action: "connections-suppressed",
  timeNs: T0 + 10n * S,
  startNs: T0,
  endNs: T0 + 9n * S,
  source: "ebpf",
  uid: 65534,
  user: "nobody",
  count: 2980,
  outcomes: { closed: 0, failed: 2980, unresolved: 0 },
  processes: [{ pid: 4242, name: "python3" }],
  processCount: 1,
  destinations: [
    { ip: "127.0.0.1", port: 22 },
    { ip: "2001:db8::7", port: 22 },
  ],
  destinationCount: 57,
};

test("a connections-suppressed summary is a valid record: count, outcomes, user, bounded lists with their counts", () => {
  const o = JSON.parse(formatJson(summary, ctx, { id: "0190a0a0-0000-7000-8000-000000000000", written: 0 }));
  assertValidEvent(o);
  assert.equal(o.event.action, "connections-suppressed");
  assert.deepEqual(o.event.type, ["connection", "info"]);
  assert.deepEqual(o.user, { id: "65534", name: "nobody" });
  assert.equal(o.ssh_outbound.suppressed.count, 2980);
  assert.equal(o.ssh_outbound.suppressed.failed, 2980);
  assert.equal(o.ssh_outbound.suppressed.destination_count, 57);
  assert.equal(o.event.start, "2026-05-28T20:26:40.000000000Z");
});

test("in text, one line with the user, the count and the lists, IPv6 bracketed, the rest counted", () => {
  const line = formatText(summary);
  assert.match(line, /^\S+ connections-suppressed user=nobody uid=65534 count=2980 failed=2980 /);
  assert.match(line, / dsts=127\.0\.0\.1:22,\[2001:db8::7\]:22,\+55 /);
  assert.match(line, / processes=python3\[4242\] /);
  assert.equal(line.split("\n").length, 2);
});

test("events-lost says how many, where, and between which times", () => {
  const lost: MonitorEvent = {
    action: "events-lost",
    timeNs: T0 + 2n * S,
    version: "0.1.0",
    pid: 1,
    source: "ebpf",
    reason: "the kernel's ring buffer was full",
    ports: [22],
    clients: ["ssh"],
    intervalMs: 50,
    loss: { stage: "ring-buffer", count: 1234, sinceNs: T0, untilNs: T0 + S },
  };
  const o = JSON.parse(formatJson(lost, ctx));
  assertValidEvent(o);
  assert.equal(o.event.outcome, "failure");
  assert.deepEqual(o.ssh_outbound.monitor.lost, { stage: "ring-buffer", count: 1234 });
  assert.equal(o.event.end, "2026-05-28T20:26:41.000000000Z");
  assert.match(formatText(lost), / stage=ring-buffer lost=1234 /);
});
