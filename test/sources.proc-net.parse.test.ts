import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { decodeAddress, parseProcNet } from "../src/sources/procfs/proc-net.ts";

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), "latin1");

test("IPv4 lines decode addresses, ports, states, uid and inode", () => {
  const { entries, malformed, listening } = parseProcNet(fixture("proc-net-tcp.txt"));
  assert.equal(malformed, 0);
  assert.deepEqual(listening, [{ ip: "127.0.0.1", port: 2299 }]);
  assert.deepEqual(entries[1], {
    family: "ipv4",
    localIp: "127.0.0.1",
    localPort: 42484,
    remoteIp: "127.0.0.1",
    remotePort: 2299,
    state: "ESTABLISHED",
    uid: 1000,
    inode: 20733,
  });
  assert.equal(entries[3]?.remoteIp, "192.168.0.1");
  assert.equal(entries[3]?.localIp, "10.0.2.15");
  assert.equal(entries[3]?.state, "SYN_SENT");
  assert.equal(entries[4]?.state, "TIME_WAIT");
});

test("IPv6 lines decode, IPv4-mapped addresses come out as IPv4, a cut line is counted", () => {
  const { entries, malformed } = parseProcNet(fixture("proc-net-tcp6.txt"));
  assert.equal(malformed, 1);
  assert.equal(entries.length, 4);
  assert.equal(entries[0]?.localIp, "::");
  assert.equal(entries[1]?.remoteIp, "::1");
  assert.equal(entries[1]?.family, "ipv6");
  assert.equal(entries[2]?.remoteIp, "127.0.0.2");
  assert.equal(entries[2]?.family, "ipv4");
  assert.equal(entries[3]?.remoteIp, "2001:db8::2");
  assert.equal(entries[3]?.remotePort, 2222);
});

test("the filter sees port, state and inode before any address is decoded", () => {
  const seen: number[] = [];
  const { entries } = parseProcNet(fixture("proc-net-tcp.txt"), {
    keep: (port, state, inode) => {
      seen.push(inode);
      return port === 22 && state !== "TIME_WAIT";
    },
  });
  assert.deepEqual(seen, [20110, 20733, 20734, 20999, 0]);
  assert.deepEqual(
    entries.map((e) => e.inode),
    [20999],
  );
});

test("addresses compress per RFC 5952", () => {
  assert.equal(decodeAddress("00000000000000000000000000000000").ip, "::");
  assert.equal(decodeAddress("B80D01200000000000000000FFFFFFFF").ip, "2001:db8::ffff:ffff");
  assert.equal(decodeAddress("B80D0120010000000000000001000000").ip, "2001:db8:0:1::1");
});
