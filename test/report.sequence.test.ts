import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { holesLine, SequenceCheck } from "../src/report/sequence.ts";
import { runCli } from "./helpers/daemon.ts";
import { conn, lines, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "000000Z");

/** A run's records as the daemon numbers them: sessions of one open and one close each. */
function run(host: string, sessions: number) {
  const id = uuidv7();
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < sessions; i++) {
    const c = newId();
    const t = Date.parse("2026-11-26T10:00:00Z") + i * 1000;
    for (const action of ["connection-opened", "connection-closed"] as const) {
      const r = conn({
        id: c,
        action,
        time: iso(t + (action === "connection-closed" ? 500 : 0)),
        start: iso(t),
        hostname: host,
      });
      (r.event as Record<string, unknown>).sequence = out.length + 1;
      r.agent = { type: "ssh-outbound-logger", ephemeral_id: id };
      out.push(r);
    }
  }
  return { id, records: out };
}

test("holes in a run's numbers are records lost after the daemon wrote them; copies and the ends are not holes", () => {
  const check = new SequenceCheck();
  const a = run("web1", 20).records.map((r) => JSON.stringify(r));
  // 7 and 12–14 lost; 3 delivered twice; the first two and the last one not in these files.
  const kept = a.filter((_, i) => ![0, 1, 6, 11, 12, 13, 39].includes(i));
  kept.push(a[2] as string);
  for (const l of kept) check.add(l, () => "web1");
  const holes = check.holes();
  assert.equal(holes.length, 1);
  assert.deepEqual(holes[0]?.ranges, [
    [7, 7],
    [12, 14],
  ]);
  assert.equal(holes[0]?.missing, 4);
  assert.match(holesLine(holes[0] as never), /^web1 run [0-9a-f]{8}…: 7, 12–14$/);
  // A line without the numbers (an older daemon, or text) is no hole.
  check.add('{"event":{"action":"x"}}', () => "old");
  assert.equal(check.holes().length, 1);
});

test("report names the records missing from a collector's files, by host and run", () => {
  const dir = scratchDir("sol-report-seq-");
  const web1 = run("web1", 5);
  const db1 = run("db1", 5);
  for (const r of [...web1.records, ...db1.records]) assertValidEvent(r);
  // web1's fourth record (a close) was lost on the way; db1's arrived whole, one of them twice.
  writeFileSync(join(dir, "web1.log"), lines(web1.records.filter((_, i) => i !== 3)));
  writeFileSync(join(dir, "db1.log"), lines([...db1.records, db1.records[4]]));
  const r = runCli(["report", "--json", dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `1 record\\(s\\) the daemon wrote are not in these files .*: web1 run ${web1.id.slice(0, 8)}…: 4$`,
      "m",
    ),
  );
  assert.doesNotMatch(r.stderr, /db1 run/);
  assert.match(r.stderr, /1 duplicate/);
});
