import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Grouper, hostLabel } from "../src/report/by.ts";
import type { Session } from "../src/report/sessions.ts";
import { runCli } from "./helpers/daemon.ts";
import { conn, lines, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";

// report --by (src/report/by.ts): sessions counted per key, failures, first and last, bytes.

const row = (user: string, start: string, extra: Partial<Session> = {}): Session => ({
  type: "session",
  id: `${user}-${start}`,
  host: "web1",
  status: "closed",
  start,
  ancestry: "ssh",
  user,
  ...extra,
});

test("per user: sessions, failures, first start and last end, bytes; most sessions first", () => {
  const g = new Grouper("user");
  g.add(row("alice", "2026-11-25T10:00:00Z", { end: "2026-11-25T10:05:00Z", sent: 100, received: 900 }));
  g.add(row("alice", "2026-11-25T09:00:00Z", { status: "failed" }));
  g.add(row("bob", "2026-11-25T11:00:00Z"));
  assert.deepEqual(g.result(), [
    {
      key: "alice",
      sessions: 2,
      failed: 1,
      first: "2026-11-25T09:00:00Z",
      last: "2026-11-25T10:05:00Z",
      bytes: 1000,
    },
    {
      key: "bob",
      sessions: 1,
      failed: 0,
      first: "2026-11-25T11:00:00Z",
      last: "2026-11-25T11:00:00Z",
      bytes: 0,
    },
  ]);
});

test("per target: the typed target, else the destination (IPv6 bracketed); hosts told apart by machine id", () => {
  const g = new Grouper("target");
  g.add(row("a", "2026-11-25T10:00:00Z", { destIp: "2001:db8::1", destPort: 22 }));
  g.add(row("a", "2026-11-25T10:00:00Z", { target: "db1" }));
  assert.deepEqual(
    g.result().map((x) => x.key),
    ["[2001:db8::1]:22", "db1"],
  );
  assert.equal(hostLabel({ host: "web1", hostId: "1234567890abcdef1234567890abcdef" }), "web1 (12345678)");
  assert.equal(hostLabel({ host: "web1" }), "web1");
});

test("report --by server-banner: connections counted per server software, as each server said it", () => {
  const dir = mkdtempSync(join(tmpdir(), "sol-by-banner-"));
  try {
    const old = "SSH-2.0-OpenSSH_7.4";
    const now = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";
    const records = [
      [old, "10:00:00"],
      [old, "10:05:00"],
      [now, "10:10:00"],
      [undefined, "10:20:00"],
    ].flatMap(([banner, at], i) => {
      const id = newId();
      const time = `2026-11-25T${at}.000000000Z`;
      const end = `2026-11-25T${(at as string).replace(/:00$/, ":30")}.000000000Z`;
      const b = banner === undefined ? {} : { serverBanner: banner };
      return [
        conn({ id, action: "connection-opened", time, pid: 100 + i, ...b }),
        conn({ id, action: "connection-closed", time: end, start: time, pid: 100 + i, ...b }),
      ];
    });
    for (const r of records) assertValidEvent(r);
    const file = join(dir, "log.log");
    writeFileSync(file, lines(records));
    const r = runCli(["report", file, "--by", "server-banner", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const groups = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((g) => g.type === "group");
    assert.deepEqual(
      groups.map((g) => [g.by, g.key, g.sessions]),
      [
        ["server-banner", old, 2],
        ["server-banner", "?", 1],
        ["server-banner", now, 1],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
