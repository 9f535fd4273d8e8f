import assert from "node:assert/strict";
import { test } from "node:test";
import type { EnrichedEvent } from "../src/enrich/enricher.ts";
import { formatJson } from "../src/format/json.ts";
import { scanConnection } from "../src/report/path-scan.ts";
import { pathConnOf } from "../src/report/paths.ts";
import { type ConnectionRecord, recordOf } from "../src/report/records.ts";
import { enrichedConnection } from "./helpers/enriched.ts";
import { conn, newId } from "./helpers/records.ts";

// report --paths reads a connection's fields from the line without parsing it whole
// (src/report/path-scan.ts). Whatever the record holds, the scanner must read what JSON.parse reads:
// lines as the daemon writes them, with command lines, names and hosts chosen to look like the keys
// the scanner looks for, quotes, backslashes, braces and text that is not ASCII.

const ctx = { hostname: "bastion", hostId: "0123456789abcdef0123456789abcdef" };
const run = { id: "0190a0a0-0000-7000-8000-0000000000aa", written: 0 };
const BAIT = [
  '},"user":{"id":"0","name":"mallory"}',
  '"login":{"user":{"name":"eve"}},"community_id":"1:AAAAAAAAAAAAAAAAAAAAAAAAAAA="',
  '"target":{"host":"evil","user":"x"}',
  '\\"via\\":\\"',
  ',"user_changes":[{"via":"nope"}]',
  'naïve 🙂 \\ "quoted" }]',
];

function lineOf(over: Partial<EnrichedEvent>, action: "opened" | "closed" = "closed"): string {
  return formatJson(enrichedConnection(newId(), action, over), ctx, run).trimEnd();
}

const cases: [string, string][] = [
  ["plain", lineOf({})],
  ["opened, no end", lineOf({}, "opened")],
  [
    "bait in argv, ancestry, target and names",
    lineOf({
      process: { pid: 7, name: BAIT[5] as string, args: ["ssh", ...BAIT], uid: 1000, user: "alice" },
      ancestry: BAIT.map((b, i) => ({ pid: 10 + i, name: b, args: [b, b], user: "root", startNs: 1n })),
      target: {
        client: "ssh",
        user: BAIT[0],
        host: BAIT[2],
        port: 22,
        jump: [BAIT[1] as string],
        forwards: { local: [BAIT[3] as string], remote: [], dynamic: [] },
      } as EnrichedEvent["target"],
      communityId: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
      login: {
        uid: 1000,
        user: "alice",
        session: 3,
        entry: "sshd",
        program: { pid: 900, name: BAIT[4] as string },
        leader: { pid: 901, name: BAIT[0] as string, args: [...BAIT] },
        source: { ip: "192.0.2.7", port: 50522 },
        destination: { ip: "192.0.2.1", port: 22 },
        communityId: "1:AbCdEfGhIjKlMnOpQrStUvWxYz0=",
      },
      userChanges: [
        { pid: 8, from: "alice", to: "bob", via: BAIT[3] as string },
        { pid: 9, from: "bob", to: "root", via: "sudo" },
      ],
      sessionLeader: { pid: 901, name: BAIT[1] as string, args: [...BAIT] },
    }),
  ],
  [
    "a login with no source (cron), a change via a name with quotes",
    lineOf({
      login: { uid: 0, user: "root", session: 4, entry: "cron" },
      userChanges: [{ pid: 8, from: "root", to: "alice", via: 'su"do\\' }],
    }),
  ],
  [
    "our sshd's forward: forwarded_for after the target",
    lineOf({
      target: { client: "ssh", host: "db1", port: 22, jump: [] } as unknown as EnrichedEvent["target"],
      forwardedFor: { user: "carol", ip: "192.0.2.8", port: 40000 },
    }),
  ],
  [
    "no process found: the socket's user",
    lineOf({ process: undefined, attribution: "none", socketUser: { uid: 0, name: "root" } }),
  ],
  [
    "a record from the tests' helper (no agent, no sequence)",
    JSON.stringify(
      conn({
        id: newId(),
        action: "connection-failed",
        time: "2026-11-23T09:00:00.000000000Z",
        communityId: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        login: {
          user: "alice",
          entry: "sshd",
          communityId: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
          ip: "10.0.0.1",
        },
      }),
    ),
  ],
];

for (const [name, line] of cases) {
  test(`the scanner reads what JSON.parse reads: ${name}`, () => {
    const parsed = recordOf(JSON.parse(line));
    assert.ok(typeof parsed !== "string" && parsed.kind === "connection", "a connection record");
    assert.deepEqual(scanConnection(line), pathConnOf(parsed as ConnectionRecord));
  });
}

test("records that are not connections are told apart, and a line not laid out as ours is left to JSON.parse", () => {
  const monitor = JSON.stringify({
    "@timestamp": "2026-11-23T09:00:00Z",
    event: { action: "monitor-started" },
    host: { hostname: "h" },
  });
  assert.equal(scanConnection(monitor), "other");
  assert.equal(scanConnection('{"event":{"action":"connection-closed"}}'), undefined);
  assert.equal(scanConnection("not json"), undefined);
});
