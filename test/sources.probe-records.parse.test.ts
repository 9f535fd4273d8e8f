import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { decodeUtf8Escaped } from "../src/bytes.ts";
import {
  CLIENT_RECORD_SIZE,
  parseAttempts,
  parseProbeRecords,
  RECORD_SIZE,
} from "../src/sources/ebpf/probe-records.ts";

// Captured from the probe on Linux 6.18 (clients: node): a process (pid 13244, parent `timeout`)
// connected to a listener on 127.0.0.1:35937 and one on [::1]:40489, sent 1,000 bytes to each and
// closed; then its child (pid 13262) connected to the unix socket /tmp/sol-capture.sock and exited.
const fixture = Buffer.from(
  readFileSync(new URL("fixtures/probe-records.hex", import.meta.url), "utf8").trim(),
  "hex",
);

test("the probe's records parse into connect, established and close, for IPv4 and IPv6; a client's unix connect and exit", () => {
  assert.equal(fixture.length, 6 * RECORD_SIZE + 2 * CLIENT_RECORD_SIZE);
  const events = parseProbeRecords(fixture, (mono) => mono + 1_000n);
  assert.deepEqual(
    events.map((e) => e.kind),
    ["connect", "established", "close", "connect", "established", "close", "unix-connect", "exit"],
  );
  const [c4, e4, x4, c6, e6, x6, u, exit] = events;
  assert.deepEqual(c4, {
    kind: "connect",
    sk: "ffff888317828940",
    pid: 13244,
    tid: 13244,
    uid: 0,
    ppid: 13243,
    parentComm: "timeout",
    netns: 4026531833,
    inode: 2919352,
    family: "ipv4",
    dport: 35937,
    daddr: "127.0.0.1",
    timeNs: 12249057211923n + 1_000n,
    comm: "node",
  });
  assert.deepEqual(e4, {
    kind: "established",
    sk: "ffff888317828940",
    sport: 47444,
    saddr: "127.0.0.1",
    timeNs: 12249057295216n + 1_000n,
  });
  assert.equal(x4?.kind === "close" && x4.oldState, "FIN_WAIT2");
  assert.equal(x4?.kind === "close" && x4.bytesAcked, 1002, "1,000 bytes and the FIN");
  assert.deepEqual(c6?.kind === "connect" && [c6.family, c6.daddr, c6.dport], ["ipv6", "::1", 40489]);
  assert.deepEqual(e6?.kind === "established" && [e6.saddr, e6.sport], ["::1", 60910]);
  assert.deepEqual(x6?.kind === "close" && [x6.saddr, x6.daddr, x6.sport, x6.dport], [
    "::1",
    "::1",
    60910,
    40489,
  ]);
  assert.deepEqual(u?.kind === "unix-connect" && [u.pid, u.ppid, u.comm, u.parentComm, u.path], [
    13262,
    13244,
    "node",
    "node",
    "/tmp/sol-capture.sock",
  ]);
  assert.deepEqual(exit?.kind === "exit" && [exit.pid, exit.comm], [13262, "node"]);
  assert.ok((exit?.timeNs ?? 0n) > (u?.timeNs ?? 0n));
});

test("a record of an unknown kind is counted, not guessed at; a cut record is not read", () => {
  const odd = Buffer.from(fixture.subarray(0, RECORD_SIZE));
  odd.writeUInt32LE(9, 40);
  let unknown = 0;
  const events = parseProbeRecords(
    Buffer.concat([odd, fixture.subarray(0, RECORD_SIZE + 10)]),
    (m) => m,
    () => unknown++,
  );
  assert.equal(unknown, 1);
  assert.deepEqual(
    events.map((e) => e.kind),
    ["connect"],
  );
});

test("a task name of 15 bytes, and one with a byte that is not UTF-8 decoded as the enricher decodes /proc", () => {
  const r = Buffer.from(fixture.subarray(0, RECORD_SIZE));
  r.fill(0, 104, 120);
  Buffer.from("abcdefghijklmno", "latin1").copy(r, 104);
  r.fill(0, 120, 136);
  Buffer.from([0x73, 0x68, 0xff]).copy(r, 120);
  const [e] = parseProbeRecords(r, (m) => m);
  assert.equal(e?.kind === "connect" && e.comm, "abcdefghijklmno");
  assert.equal(e?.kind === "connect" && e.parentComm, decodeUtf8Escaped(Buffer.from([0x73, 0x68, 0xff])));
});

// Captured from the probe on Linux 6.18 (ports 47001 and 47002, a rate of 1 a second, a burst of 1): as
// root (pid 4069), three refused connects to 127.0.0.1:47001, then two to [::1]:47002. The first had the
// bucket's token and was sent; the other four were counted in the kernel.
const attempts = JSON.parse(
  readFileSync(new URL("fixtures/probe-attempts.json", import.meta.url), "utf8"),
) as {
  users: string;
  destinations: string;
};

test("the probe's flood counts parse into each user's totals and the destinations taken out of its map", () => {
  const r = parseAttempts(
    { users: Buffer.from(attempts.users, "hex"), destinations: Buffer.from(attempts.destinations, "hex") },
    (mono) => mono + 1_000n,
  );
  assert.equal(r.users.length, 1);
  assert.equal(r.users[0]?.uid, 0);
  assert.equal(r.users[0]?.count, 4);
  assert.equal(r.users[0]?.unlisted, 0);
  const d = [...r.destinations].sort((a, b) => a.remote.port - b.remote.port);
  assert.deepEqual(
    d.map((x) => [x.uid, x.remote.ip, x.remote.port, x.count, x.comm]),
    [
      [0, "127.0.0.1", 47001, 2, "node"],
      [0, "::1", 47002, 2, "node"],
    ],
  );
  for (const x of d) {
    assert.ok(x.firstNs <= x.lastNs);
    assert.ok(x.lastNs <= (r.users[0]?.lastNs ?? 0n), "a user's last end is the latest of theirs");
  }
  assert.equal(d[0]?.pid, d[1]?.pid);
});
