import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { clock } from "../src/clock.ts";
import { Enricher } from "../src/enrich/enricher.ts";
import type { ConnectionEvent } from "../src/track/tracker.ts";

const event = (startNs: bigint): ConnectionEvent => ({
  id: "0190a0a0-0000-7000-8000-000000000002",
  source: "ebpf",
  action: "attempted",
  timeNs: startNs,
  startNs,
  observed: "live",
  socket: {
    key: "ino:7",
    family: "ipv4",
    remote: { ip: "192.0.2.1", port: 22 },
    state: "SYN_SENT",
    uid: process.getuid?.() ?? 0,
    // The kernel's word: this very process (its pid and name).
    owner: { pid: process.pid, comm: readComm() },
  },
});

function readComm(): string {
  return readFileSync(`/proc/${process.pid}/comm`, "utf8").trim();
}

test("the process at the owner's pid is its owner when it is older than the connection", () => {
  const e = new Enricher();
  e.enrich(event(clock.nowNs() - 200_000_000n)); // enriched 0.2 s late: old enough to look
  const out = e.enrich({ ...event(clock.nowNs() - 200_000_000n), action: "opened" });
  assert.equal(out?.attribution, "complete");
  assert.equal(out?.process?.pid, process.pid);
});

test("a process younger than the connection at the owner's pid is a reused pid: the kernel's word only", () => {
  const e = new Enricher();
  const tenDaysAgo = clock.nowNs() - 10n * 86_400n * 1_000_000_000n;
  e.enrich(event(tenDaysAgo));
  const out = e.enrich({ ...event(tenDaysAgo), action: "opened" });
  assert.equal(out?.attribution, "partial");
  assert.equal(out?.process?.pid, process.pid);
  assert.equal(out?.process?.args, undefined, "nothing read from /proc of the process now at that pid");
});

test("connections of one process share its parent's and ancestors' records, made once", () => {
  const e = new Enricher();
  const one = e.enrich({
    ...event(clock.nowNs()),
    id: "0190a0a0-0000-7000-8000-00000000000a",
    action: "opened",
  });
  const two = e.enrich({
    ...event(clock.nowNs()),
    id: "0190a0a0-0000-7000-8000-00000000000b",
    action: "opened",
  });
  assert.equal(one?.attribution, "complete");
  assert.ok(one?.parent && one.ancestry.length > 0, "this process has a parent and ancestors");
  assert.equal(two?.parent, one?.parent);
  assert.deepEqual(two?.ancestry, one?.ancestry);
  for (const [i, a] of (two?.ancestry ?? []).entries()) assert.equal(a, one?.ancestry[i]);
  // The process's own record is each connection's: it carries what only this connection knows.
  assert.notEqual(two?.process, one?.process);
});
