import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, lines, monitor, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

// A collector's tree: one file per host and day. Two hosts share the name web1 (told apart by their
// machine ids), a third is db9, and web2 is a container sharing the first web1's machine id. The shipper delivered some records twice and one close before its open.

const t = (s: string) => `2026-11-23T${s}.000000000Z`;
const ID = { a: "a".repeat(32), b: "b".repeat(32), c: "c".repeat(32) };
const on = (r: Ev, id: string, name = "web1"): Ev => ({ ...r, host: { hostname: name, id } });
const [A1, A2, B1, C1, D1] = [newId(), newId(), newId(), newId(), newId()];

/** A host's records: its daemon's start, then each session opened and closed. */
function host(name: string, id: string, sessions: [string, string, string, string][]): Ev[] {
  return [
    on(monitor("monitor-started", t("08:00:00")), id, name),
    ...sessions.flatMap(([sid, user, from, to]) => [
      on(conn({ id: sid, action: "connection-opened", time: t(from), user }), id, name),
      on(conn({ id: sid, action: "connection-closed", time: t(to), start: t(from), user }), id, name),
    ]),
  ];
}

const [openA1, closeA1] = host("web1", ID.a, [[A1, "alice", "09:00:00", "09:10:00"]]).slice(1);
const [openA2, closeA2] = host("web1", ID.a, [[A2, "alice", "10:00:00", "10:10:00"]]).slice(1);
const hostA = [
  ...host("web1", ID.a, [[A1, "alice", "09:00:00", "09:10:00"]]),
  // Delivered again after a collector outage: taken once.
  openA1,
  closeA1,
  // The close came before the open.
  closeA2,
  openA2,
] as Ev[];
const hostB = host("web1", ID.b, [[B1, "bob", "09:30:00", "09:40:00"]]);
const hostC = host("db9", ID.c, [[C1, "carol", "11:00:00", "11:05:00"]]);
// A container on host A's machine: its own name, the same machine id.
const hostD = host("web2", ID.a, [[D1, "dave", "12:00:00", "12:01:00"]]);

function tree(): string {
  const dir = scratchDir("sol-collector-");
  for (const [name, records] of [
    ["web1-a", hostA],
    ["web1-b", hostB],
    ["db9", hostC],
    ["web2", hostD],
  ] as const) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "2026-11-23.log"), lines(records));
  }
  return dir;
}

const json = (out: string): Ev[] =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

test("a collector's directory: hosts of one name apart, duplicates and an open after its close taken once", () => {
  for (const r of [...hostA, ...hostB, ...hostC, ...hostD]) assertValidEvent(r);
  const dir = tree();
  const r = runCli(["report", "--json", dir], {});
  assert.equal(r.code, 0, r.stderr);
  const sessions = json(r.stdout).filter((x) => x.type === "session");
  assert.deepEqual(sessions.map((s) => s.id).sort(), [A1, A2, B1, C1, D1].sort(), "each session once");
  assert.ok(sessions.every((s) => s.status === "closed"));
  assert.match(r.stderr, /3 duplicate/, "the copies are counted, not silently dropped");

  const byHost = json(runCli(["report", "--by", "host", "--json", dir], {}).stdout).filter(
    (x) => x.type === "group",
  );
  assert.deepEqual(Object.fromEntries(byHost.map((g) => [g.key, g.sessions])), {
    "web1 (aaaaaaaa)": 2,
    "web1 (bbbbbbbb)": 1,
    "db9 (cccccccc)": 1,
    "web2 (aaaaaaaa)": 1,
  });

  const onlyB = json(runCli(["report", "--host", ID.b, "--host", "db9", "--json", dir], {}).stdout);
  assert.deepEqual(
    onlyB
      .filter((x) => x.type === "session")
      .map((s) => s.id)
      .sort(),
    [B1, C1].sort(),
  );

  const table = runCli(["report", dir], {}).stdout.split("\n");
  assert.match(table[0] as string, /^HOST\s+START\s+/);
  assert.ok(table.some((l) => l.startsWith("db9 ")));
});

test("one host's log has no HOST column", () => {
  const dir = tree();
  const table = runCli(["report", join(dir, "db9")], {}).stdout.split("\n");
  assert.match(table[0] as string, /^START\s+/);
});
