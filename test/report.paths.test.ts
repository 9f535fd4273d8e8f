import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, lines, monitor, newId } from "./helpers/records.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

// report --paths over a collector's tree: alice at her laptop's terminal goes to the bastion, from
// there to db1 through sudo and, in the same login, to db2; bob enters bastion2 through a NAT (the
// flow his login came in on is no record's here) and goes on to db3. The real thing, with three
// network namespaces, sshd and the daemon in each, is test/integration/login.paths.test.ts.

const t = (s: string) => `2026-11-23T${s}.000000000Z`;
const cid = (c: string) => `1:${c.repeat(27)}=`;
const [L1, B1, B2, N1] = [newId(), newId(), newId(), newId()];

/** One connection on `hostname`, opened and closed. */
function hop(
  hostname: string,
  o: Omit<Parameters<typeof conn>[0], "action" | "time">,
  from: string,
  to: string,
): Ev[] {
  const on = (r: Ev): Ev => ({
    ...r,
    host: {
      hostname,
      id: hostname
        .padEnd(32, "0")
        .slice(0, 32)
        .replace(/[^0-9a-f]/g, "e"),
    },
  });
  return [
    on(conn({ ...o, action: "connection-opened", time: t(from) })),
    on(conn({ ...o, action: "connection-closed", time: t(to), start: t(from) })),
  ];
}

const laptop = [
  monitor("monitor-started", t("08:00:00")),
  ...hop(
    "laptop",
    {
      id: L1,
      user: "alice",
      typedHost: "bastion",
      communityId: cid("A"),
      login: { user: "alice", entry: "terminal" },
    },
    "09:00:00",
    "09:30:00",
  ),
];
const bastion = [
  ...hop(
    "bastion",
    {
      id: B1,
      user: "root",
      typedUser: "root",
      typedHost: "db1",
      communityId: cid("B"),
      login: { user: "alice", entry: "sshd", communityId: cid("A"), ip: "10.0.0.5" },
      changes: [{ from: "alice", to: "root", via: "sudo" }],
    },
    "09:01:00",
    "09:05:00",
  ),
  ...hop(
    "bastion",
    {
      id: B2,
      user: "alice",
      typedHost: "db2",
      communityId: cid("C"),
      login: { user: "alice", entry: "sshd", communityId: cid("A"), ip: "10.0.0.5" },
    },
    "09:10:00",
    "09:20:00",
  ),
];
const bastion2 = hop(
  "bastion2",
  {
    id: N1,
    user: "bob",
    typedHost: "db3",
    communityId: cid("D"),
    login: { user: "bob", entry: "sshd", communityId: cid("Z"), ip: "203.0.113.9" },
  },
  "10:00:00",
  "10:01:00",
);

function tree(): string {
  const dir = scratchDir("sol-paths-");
  for (const [name, records] of [
    ["laptop", laptop],
    ["bastion", bastion],
    ["bastion2", bastion2],
  ] as const) {
    for (const r of records) if (r.event.action !== "monitor-started") assertValidEvent(r);
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "2026-11-23.log"), lines(records));
  }
  return dir;
}

test("one line per path: the person and first host, each host reached with its user, sudo said", () => {
  const r = runCli(["report", "--paths", tree()]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split("\n"), [
    "2026-11-23 09:00:00Z → 2026-11-23 09:30:00Z  alice laptop → bastion (alice) → db1 (root via sudo)",
    "2026-11-23 09:00:00Z → 2026-11-23 09:30:00Z  alice laptop → bastion (alice) → db2 (alice)",
    "2026-11-23 10:00:00Z → 2026-11-23 10:01:00Z  bob bastion2 (entered from 203.0.113.9) → db3 (bob)",
  ]);
});

test("--json: hops from the outermost in, the connection ids and the users at each hop", () => {
  const r = runCli(["report", "--paths", "--json", tree()]);
  assert.equal(r.code, 0, r.stderr);
  const paths = r.stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev);
  assert.equal(paths.length, 3);
  const [first, , nat] = paths as [Ev, Ev, Ev];
  assert.deepEqual(first.connectionIds, [L1, B1]);
  assert.deepEqual(first.users, ["alice", "alice", "root"]);
  assert.equal(first.person, "alice");
  assert.deepEqual(
    first.hops.map((h: Ev) => [h.host, h.login, h.user, h.via, h.entry, h.to.host, h.to.user]),
    [
      ["laptop", "alice", "alice", undefined, "terminal", "bastion", "alice"],
      ["bastion", "alice", "root", "sudo", "sshd", "db1", "root"],
    ],
  );
  assert.equal(first.enteredFrom, undefined, "alice began at a terminal: no address");
  assert.deepEqual(nat.enteredFrom, { ip: "203.0.113.9", port: 50000 });
  assert.deepEqual(nat.connectionIds, [N1]);
});

test("filters keep a path whole when one of its hops matches: --host, --user (the login's too), --since", () => {
  const dir = tree();
  const run = (...args: string[]) => {
    const r = runCli(["report", "--paths", ...args, dir]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trimEnd().split("\n").filter(Boolean);
  };
  assert.equal(run("--host", "bastion2").length, 1);
  assert.equal(run("--host", "laptop").length, 2, "both of alice's paths begin on her laptop");
  // root made the db1 hop, as alice's login: --user finds it by either.
  assert.equal(run("--user", "root").length, 1);
  assert.equal(run("--user", "alice").length, 2);
  assert.deepEqual(run("--since", "2026-11-23T09:45:00Z").length, 1);
  assert.equal(run("--user", "nobody").length, 0);
});

test("--paths with --csv or --by is refused with the option named", () => {
  const a = runCli(["report", "--paths", "--csv", tree()]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--csv/);
  const b = runCli(["report", "--paths", "--by", "user", tree()]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--by/);
});

test("--threads: the same paths with any number of threads; a bad count or no --paths is refused", () => {
  const dir = tree();
  const one = runCli(["report", "--paths", "--threads", "1", dir]);
  assert.equal(one.code, 0, one.stderr);
  const three = runCli(["report", "--paths", "--threads", "3", dir]);
  assert.equal(three.stdout, one.stdout);
  for (const bad of ["0", "65", "2.5", "x"]) {
    const r = runCli(["report", "--paths", "--threads", bad, dir]);
    assert.equal(r.code, 2, `--threads ${bad}`);
    assert.match(r.stderr, new RegExp(`--threads.*${bad.replace(".", "\\.")}`));
  }
  const alone = runCli(["report", "--threads", "2", dir]);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--threads/);
});
