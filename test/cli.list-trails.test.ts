import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, lines, monitor, newId } from "./helpers/records.ts";
import { scratchDir } from "./helpers/scratch.ts";

// `list --host H [FILES]`: what the trails say is open on a host (a collector's tree), through the
// same reading as report: a connection opened and not ended in the files, "open" while its host's
// daemon was watching, "unknown" when the daemon stopped first.

const t = (s: string) => `2026-11-23T${s}.000000000Z`;
const [A1, A2, B1, C1] = [newId(), newId(), newId(), newId()];

function tree(): string {
  const dir = scratchDir("sol-list-trails-");
  const files: [string, unknown[]][] = [
    [
      "web1",
      [
        monitor("monitor-started", t("08:00:00"), "web1"),
        conn({
          id: A1,
          action: "connection-opened",
          time: t("09:00:00"),
          hostname: "web1",
          typedHost: "db1",
        }),
        conn({
          id: A2,
          action: "connection-opened",
          time: t("09:01:00"),
          hostname: "web1",
          typedHost: "db2",
        }),
        conn({
          id: A2,
          action: "connection-closed",
          time: t("09:02:00"),
          start: t("09:01:00"),
          hostname: "web1",
        }),
      ],
    ],
    [
      "web2",
      [
        monitor("monitor-started", t("08:00:00"), "web2"),
        conn({
          id: B1,
          action: "connection-opened",
          time: t("09:05:00"),
          hostname: "web2",
          typedHost: "db3",
        }),
      ],
    ],
    [
      "web3",
      [
        monitor("monitor-started", t("08:00:00"), "web3"),
        conn({
          id: C1,
          action: "connection-opened",
          time: t("09:06:00"),
          hostname: "web3",
          typedHost: "db4",
        }),
        monitor("monitor-stopped", t("09:07:00"), "web3"),
      ],
    ],
  ];
  for (const [host, records] of files) {
    mkdirSync(join(dir, host));
    writeFileSync(join(dir, host, "2026-11-23.log"), lines(records));
  }
  return dir;
}

const rows = (out: string) =>
  out
    .trimEnd()
    .split("\n")
    .slice(1)
    .filter((l) => !l.startsWith("----"));

test("list --host: the connections open on that host, as its trail says", () => {
  const dir = tree();
  const r = runCli(["list", "--host", "web1", dir]);
  assert.equal(r.code, 0, r.stderr);
  const got = rows(r.stdout);
  assert.equal(got.length, 1, r.stdout);
  assert.match(got[0] as string, /open .*db1/);
  const json = runCli(["list", "--host", "web2", "--json", dir]);
  assert.equal(json.code, 0, json.stderr);
  const sessions = json.stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev)
    .filter((s) => s.type === "session");
  assert.deepEqual(
    sessions.map((s) => [s.id, s.host, s.status]),
    [[B1, "web2", "open"]],
  );
});

test("list FILES: every host's open connections; a stopped daemon's says unknown", () => {
  const r = runCli(["list", "--json", tree()]);
  assert.equal(r.code, 0, r.stderr);
  const got = r.stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev)
    .filter((s) => s.type === "session")
    .map((s) => [s.id, s.status])
    .sort();
  assert.deepEqual(
    got,
    [
      [A1, "open"],
      [B1, "open"],
      [C1, "unknown"],
    ].sort(),
  );
});

test("list --host with --ports is refused with the option named", () => {
  const r = runCli(["list", "--host", "web1", "--ports", "22", tree()]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--ports/);
});
