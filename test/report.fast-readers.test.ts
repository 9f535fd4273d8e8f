import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { EnrichedEvent } from "../src/enrich/enricher.ts";
import { formatJson } from "../src/format/json.ts";
import { peekOpened, recordOf, toRecord } from "../src/report/records.ts";
import { report } from "../src/report/report.ts";
import { enrichedConnection, S, T0 } from "./helpers/enriched.ts";
import { scratchDir } from "./helpers/scratch.ts";

// The report's fast readers, fed the daemon's real output (formatJson of records as the pipeline
// makes them): toRecord skips JSON.parse on the ancestry and must read what a full parse reads, and
// peekOpened takes a connection-opened line's id, host and time without parsing it at all.

const ctx = { hostname: 'web"1', hostId: "0123456789abcdef0123456789abcdef" };
const run = { id: "0190a0a0-0000-7000-8000-00000000000f", written: 0 };

function connection(action: "opened" | "closed", id: string): EnrichedEvent {
  return enrichedConnection(id, action, {
    ...(action === "closed" ? { bytesSent: 1200, bytesReceived: 3400 } : {}),
    process: {
      pid: 4242,
      name: "ssh",
      args: ["ssh", "-L", "8080:db:80", "alice@db1"],
      uid: 1000,
      user: "alice",
    },
    // Names a parser could trip on: quotes, a backslash, the words the fast reader looks for.
    ancestry: [
      { pid: 1, name: "systemd", args: ["/sbin/init"], user: "root", startNs: 0n },
      { pid: 700, name: 'a"],"target":', args: ['"name":"x"', "\\"], user: "alice", startNs: T0 - 2n * S },
      { pid: 900, name: "bash", args: ["bash"], user: "alice", startNs: T0 - S },
    ],
    target: {
      client: "ssh",
      user: "alice",
      host: "db1",
      jump: [],
      forwards: { local: ["8080:db:80"], remote: [], dynamic: [] },
    },
  });
}

const opened = formatJson(connection("opened", "0190a0a0-0000-7000-8000-000000000001"), ctx, run).trimEnd();
const closed = formatJson(connection("closed", "0190a0a0-0000-7000-8000-000000000001"), ctx, run).trimEnd();

test("toRecord reads a real line as a full parse does, ancestors' odd names included", () => {
  for (const line of [opened, closed]) {
    const fast = toRecord(line, true);
    const slow = recordOf(JSON.parse(line));
    assert.deepEqual(fast, slow);
    assert.ok(typeof fast === "object" && fast.kind === "connection");
    assert.deepEqual(fast.ancestry, ["systemd", 'a"],"target":', "bash"]);
    assert.deepEqual(fast.forwards, ["L:8080:db:80"]);
  }
  const c = toRecord(closed, true);
  assert.ok(typeof c === "object" && c.kind === "connection");
  assert.deepEqual(
    [c.action, c.destIp, c.destPort, c.sent, c.received],
    ["closed", "2001:db8::1", 22, 1200, 3400],
  );
});

test("peekOpened takes a real opened line's id, host and time, and nothing from other lines", () => {
  assert.equal(peekOpened(opened), undefined, "a host name with a quote is left to the full parse");
  const plain = formatJson(
    connection("opened", "0190a0a0-0000-7000-8000-000000000002"),
    { ...ctx, hostname: "web1" },
    run,
  ).trimEnd();
  assert.deepEqual(peekOpened(plain), {
    id: "0190a0a0-0000-7000-8000-000000000002",
    host: "web1",
    hostId: ctx.hostId,
    time: "2026-05-28T20:26:40.000000000Z",
  });
  assert.equal(peekOpened(closed), undefined);
});

test("report over a file of real lines: one closed session with its bytes and forwards", async () => {
  const file = join(scratchDir("sol-fast-"), "trail.log");
  writeFileSync(file, `${opened}\n${closed}\n`);
  const lines: string[] = [];
  const summary = await report(
    { files: [file], filters: {}, format: "json" },
    { write: (l) => void lines.push(l), drain: async () => undefined, warn: () => undefined },
  );
  assert.equal(summary.sessions, 1);
  const s = JSON.parse(lines.find((l) => l.includes('"type":"session"')) as string);
  assert.deepEqual(
    [s.status, s.target, s.destIp, s.sent, s.received, s.forwards],
    ["closed", "alice@db1", "2001:db8::1", 1200, 3400, "L:8080:db:80"],
  );
  assert.equal(s.durationMs, 5000);
});
