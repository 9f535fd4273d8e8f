import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, lines, monitor, muxSession, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

// A control master's connection and two sessions that rode it: report lists each session, names the
// connection it rode, and counts them under that connection.

const t = (s: string) => `2026-11-23T${s}.000000000Z`;
const [M, S1, S2] = [newId(), newId(), newId()];
const records = [
  monitor("monitor-started", t("08:00:00")),
  conn({ id: M, action: "connection-opened", time: t("09:00:00"), typedHost: "db1" }),
  muxSession({ id: S1, via: M, start: t("09:01:00"), end: t("09:01:02"), command: "uptime", pid: 5001 }),
  muxSession({
    id: S2,
    via: M,
    start: t("09:02:00"),
    end: t("09:02:30"),
    command: "rm -rf /srv/data",
    pid: 5002,
  }),
  conn({ id: M, action: "connection-closed", time: t("09:10:00"), start: t("09:00:00"), typedHost: "db1" }),
];

test("ssh-session records: a row each with the connection they rode; the connection counts them", () => {
  for (const r of records) assertValidEvent(r);
  const dir = scratchDir("sol-report-mux-");
  const log = join(dir, "log.log");
  writeFileSync(log, lines(records));
  const r = runCli(["report", "--json", log], {});
  assert.equal(r.code, 0, r.stderr);
  const rows: Ev[] = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((x: Ev) => x.type === "session");
  const byId = new Map(rows.map((x) => [x.id, x]));
  assert.equal(byId.get(M)?.muxSessions, 2);
  assert.equal(byId.get(M)?.status, "closed");
  for (const [id, cmd] of [
    [S1, "uptime"],
    [S2, "rm -rf /srv/data"],
  ] as const) {
    const s = byId.get(id);
    assert.equal(s?.via, M);
    assert.equal(s?.status, "closed");
    assert.equal(s?.target, "db1");
    assert.ok(s?.commandLine.endsWith(cmd));
  }
  assert.equal(byId.get(S2)?.durationMs, 30_000);
  const table = runCli(["report", log], {});
  const row = table.stdout.split("\n").find((l) => l.includes("ssh[5002]")) ?? "";
  assert.match(row, /via /);
});
