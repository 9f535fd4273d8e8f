import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, lines, monitor, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

const dir = scratchDir("sol-report-");
after(() => rmSync(dir, { recursive: true, force: true }));

const [A, B, C, D, E, F] = [newId(), newId(), newId(), newId(), newId(), newId()];
const day1 = (t: string) => `2026-11-23T${t}.000000000Z`;
const day2 = (t: string) => `2026-11-24T${t}.000000000Z`;
const day3 = (t: string) => `2026-11-25T${t}.000000000Z`;

// Three files as logrotate leaves them: the oldest compressed, the middle one not yet (delaycompress),
// the live one last. A session crosses a rotation; the daemon is stopped and restarted once, and later
// dies without a monitor-stopped; the live file ends with a line cut in the middle.
const oldest = [
  monitor("monitor-started", day1("08:00:00")),
  conn({
    id: A,
    action: "connection-opened",
    time: day1("09:00:00"),
    user: "alice",
    typedHost: "db1.example.com",
  }),
  conn({
    id: B,
    action: "connection-opened",
    time: day1("09:30:00"),
    user: "bob",
    typedHost: "git.example.com",
    process: "scp",
  }),
  conn({
    id: A,
    action: "connection-closed",
    time: day1("10:00:00"),
    start: day1("09:00:00"),
    sent: 4003,
    received: 2_005_778,
  }),
  conn({
    id: C,
    action: "connection-opened",
    time: day1("23:00:00"),
    user: "carol",
    typedHost: "bastion",
    host: "10.0.0.7",
  }),
];
const middle = [
  // B's close, in a later file than its open, with a field this version does not know.
  {
    ...conn({
      id: B,
      action: "connection-closed",
      time: day2("00:30:00"),
      start: day1("09:30:00"),
      user: "bob",
      typedHost: "git.example.com",
      process: "scp",
    }),
    future_field: { x: 1 },
  },
  monitor("monitor-stopped", day2("01:00:00")),
  monitor("monitor-started", day2("06:00:00")),
  conn({
    id: D,
    action: "connection-failed",
    time: day2("08:00:00"),
    user: "alice",
    typedUser: "=cmd|' /C calc'!A0",
    port: 2222,
  }),
  // an older version's line without a connection id
  { "@timestamp": day2("08:30:00"), event: { action: "connection-opened" }, host: { hostname: "web1" } },
];
const live = [
  // The daemon died (no monitor-stopped) and was started again.
  monitor("monitor-started", day3("00:10:00")),
  conn({
    id: E,
    action: "connection-opened",
    time: day3("01:00:00"),
    user: "alice",
    typedHost: "db1.example.com",
  }),
  conn({
    id: F,
    action: "connection-opened",
    time: day3("01:05:00"),
    user: "alice",
    typedHost: "db2.example.com",
  }),
  conn({
    id: F,
    action: "connection-closed",
    time: day3("01:06:00"),
    start: day3("01:05:00"),
    user: "alice",
    typedHost: "db2.example.com",
  }),
];

writeFileSync(join(dir, "log.log-20261124.gz"), gzipSync(lines(oldest)));
writeFileSync(join(dir, "log.log-20261125"), lines(middle));
const cut = JSON.stringify(conn({ id: newId(), action: "connection-opened", time: day3("02:00:00") }));
writeFileSync(join(dir, "log.log"), `${lines(live)}${cut.slice(0, 120)}`);
const LOG = join(dir, "log.log");
const env = { SSH_OUTBOUND_OUTPUT: LOG };

const sessions = (stdout: string): Ev[] =>
  stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test("the fixtures are records the daemon could have written (JSON Schema)", () => {
  for (const r of [...oldest, ...middle.slice(0, 3), ...live]) {
    const { future_field: _, ...known } = r as Ev;
    assertValidEvent(known);
  }
});

test("report joins sessions across rotated (.gz) files, oldest first, and lists the monitoring gaps", () => {
  const r = runCli(["report", "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  const out = sessions(r.stdout);
  const byId = new Map<string, Ev>(out.filter((s) => s.type === "session").map((s) => [s.id, s]));
  const get = (id: string): Ev => byId.get(id) ?? assert.fail(`session ${id} missing`);
  assert.equal(get(A).status, "closed");
  assert.equal(get(A).durationMs, 3_600_000);
  assert.equal(get(A).sent, 4003);
  assert.equal(get(A).received, 2_005_778);
  assert.equal(get(A).target, "alice@db1.example.com:22");
  assert.equal(get(A).ancestry, "systemd>sshd>bash>ssh");
  assert.equal(get(B).status, "closed", "opened in the .gz file, closed in the next");
  assert.equal(get(B).start, day1("09:30:00"));
  assert.equal(get(B).process, "scp");
  assert.equal(get(C).status, "unknown", "open when its daemon stopped: nobody saw the end");
  assert.equal(get(D).status, "failed");
  assert.equal(get(E).status, "open", "no close, and the daemon still ran at the end of the files");
  assert.equal(get(F).status, "closed");
  assert.equal(byId.size, 6, "every session once, none dropped");
  const gaps = out.filter((s) => s.type === "gap");
  assert.deepEqual(
    gaps.map((g) => [g.from, g.to]),
    [
      [day2("01:00:00"), day2("06:00:00")],
      // from the last record of the daemon that died (the skipped line is not trusted as a record)
      [day2("08:00:00"), day3("00:10:00")],
    ],
  );
  assert.match(gaps[0]?.reason, /monitor stopped \(SIGTERM\)/);
  assert.match(gaps[1]?.reason, /killed or crashed/);
  assert.match(r.stderr, /skipped 2 line\(s\): 1 missing-fields, 1 truncated/);
});

test("a shell glob's order (live file first) is put right", () => {
  const files = ["log.log", "log.log-20261124.gz", "log.log-20261125"].map((f) => join(dir, f));
  const r = runCli(["report", "--json", ...files]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(sessions(r.stdout), sessions(runCli(["report", "--json"], env).stdout));
});

test("filters: --user, --target (typed host, host:port, ip, ip:port), --process, --failed, --since, --until", () => {
  const ids = (args: string[]) => {
    const r = runCli(["report", "--json", ...args], env);
    assert.equal(r.code, 0, r.stderr);
    return sessions(r.stdout)
      .filter((s) => s.type === "session")
      .map((s) => s.id)
      .sort();
  };
  assert.deepEqual(ids(["--user", "bob"]), [B]);
  assert.deepEqual(ids(["--target", "db1.example.com"]), [A, D, E].sort());
  assert.deepEqual(ids(["--target", "db1.example.com:22"]), [A, E].sort());
  assert.deepEqual(ids(["--target", "10.0.0.7"]), [C]);
  assert.deepEqual(ids(["--target", "10.0.0.7:22"]), [C]);
  assert.deepEqual(ids(["--process", "scp"]), [B]);
  assert.deepEqual(ids(["--failed"]), [D]);
  assert.deepEqual(
    ids(["--since", "2026-11-25T00:00:00Z"]),
    [C, E, F].sort(),
    "unknown-end and open sessions may go on",
  );
  assert.deepEqual(ids(["--until", "2026-11-23T09:15:00Z"]), [A]);
  assert.deepEqual(ids(["--since", "100000d"]).length, 6);
});

test("the table shows one aligned row per session, the gaps, and escapes what it prints", () => {
  const r = runCli(["report"], env);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trimEnd().split("\n");
  assert.match(
    rows[0] as string,
    /^START\s+DURATION\s+STATUS\s+USER\s+PROCESS\s+TARGET\s+DESTINATION\s+SENT\/RECV\s+MUX\s+ANCESTRY$/,
  );
  const a = rows.find((l) => l.includes("alice@db1.example.com:22") && l.includes("1h00m"));
  assert.ok(a, r.stdout);
  assert.match(a, /^2026-11-23 09:00:00Z 1h00m\s+closed\s+alice\s+ssh\[4242\]\s+/);
  assert.match(a, /3\.9K\/1\.9M\s+systemd>sshd>bash>ssh$/);
  assert.equal(rows.filter((l) => l.startsWith("---- not watching web1")).length, 2);
  const header = rows[0] as string;
  for (const row of rows.filter((l) => !l.startsWith("----"))) {
    assert.equal(row.indexOf(" ", 20), header.indexOf(" ", 20), "columns line up");
  }
});

test("--csv quotes per RFC 4180 and defuses spreadsheet formulas; --by counts", () => {
  const csv = runCli(["report", "--csv"], env);
  assert.equal(csv.code, 0, csv.stderr);
  const [head, ...body] = csv.stdout.trim().split("\n");
  assert.equal(
    head,
    "id,host,hostId,status,start,end,durationMs,user,pid,process,target,destIp,destPort,sent,received,ancestry,commandLine,observed,via,muxSessions,forwards,agent",
  );
  assert.equal(body.length, 6);
  const d = body.find((l) => l.startsWith(D)) as string;
  assert.ok(d.includes(",'=cmd|' /C calc'!A0@db1.example.com:2222,"), d);
  assert.ok(!/,=/.test(d), "no cell starts with =");
  assert.match(csv.stderr, /not watching web1/);

  const by = runCli(["report", "--by", "user", "--json"], env);
  const groups = sessions(by.stdout).filter((g) => g.type === "group");
  const alice = groups.find((g) => g.key === "alice") ?? assert.fail("no group for alice");
  assert.equal(alice.sessions, 4);
  assert.equal(alice.failed, 1);
  assert.equal(alice.first, day1("09:00:00"));
  assert.equal(alice.bytes, 4003 + 2_005_778);
  assert.equal(groups[0]?.key, "alice", "most sessions first");
});

test("bad report options exit 2 naming the option and the value", () => {
  for (const [args, re] of [
    [["--since", "yesterday"], /invalid --since "yesterday"/],
    [["--until", "2026-13-45"], /invalid --until "2026-13-45"/],
    [["--by", "day"], /invalid --by "day": expected user, target, process, host/],
    [["--json", "--csv"], /invalid --csv/],
  ] as const) {
    const r = runCli(["report", ...args], env);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, "");
  }
  const missing = runCli(["report", "--json", join(dir, "gone.log"), LOG]);
  assert.equal(missing.code, 1, "a file that cannot be read makes the exit code 1");
  assert.match(missing.stderr, /cannot read .*gone\.log: ENOENT/);
  assert.ok(missing.stdout.includes('"type":"session"'), "the other files are still reported");
  const none = runCli(["report"], { SSH_OUTBOUND_OUTPUT: join(dir, "nothing-here.log") });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no log files at .*nothing-here\.log/);
});
