import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, lines, monitor, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

// report --forwards: the sessions that asked for tunnels (or agent forwarding shown with them).

const t = (s: string) => `2026-11-23T${s}.000000000Z`;
const [TUNNEL, PLAIN] = [newId(), newId()];
const withForwards = (r: Ev): Ev => {
  r.ssh_outbound.target.forwards = { local: ["8080:localhost:80"], remote: [], dynamic: ["1080"] };
  r.ssh_outbound.target.agent_forwarding = true;
  return r;
};
const records = [
  monitor("monitor-started", t("08:00:00")),
  withForwards(conn({ id: TUNNEL, action: "connection-opened", time: t("09:00:00"), typedHost: "gw" })),
  conn({ id: PLAIN, action: "connection-opened", time: t("09:01:00"), typedHost: "db1" }),
  conn({
    id: PLAIN,
    action: "connection-closed",
    time: t("09:02:00"),
    start: t("09:01:00"),
    typedHost: "db1",
  }),
  withForwards(
    conn({
      id: TUNNEL,
      action: "connection-closed",
      time: t("09:30:00"),
      start: t("09:00:00"),
      typedHost: "gw",
    }),
  ),
];

test("report --forwards lists only the sessions that opened tunnels, with the tunnels", () => {
  for (const r of records) assertValidEvent(r);
  const log = join(scratchDir("sol-report-fwd-"), "log.log");
  writeFileSync(log, lines(records));
  const json = runCli(["report", "--forwards", "--json", log], {});
  assert.equal(json.code, 0, json.stderr);
  const rows = json.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((x: Ev) => x.type === "session");
  assert.deepEqual(
    rows.map((r: Ev) => [r.id, r.forwards, r.agent]),
    [[TUNNEL, "L:8080:localhost:80,D:1080", true]],
  );
  const table = runCli(["report", "--forwards", log], {});
  const [head, row] = table.stdout.split("\n");
  assert.match(head as string, /\bFORWARDS\s+ANCESTRY$/);
  assert.match(row as string, /L:8080:localhost:80,D:1080 ag…/, "cut to the column with an ellipsis");
  assert.ok(!table.stdout.includes("db1"), "the session without tunnels is left out");
});
