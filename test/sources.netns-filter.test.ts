import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelEvent } from "../src/sources/ebpf/kernel-table.ts";
import { OwnNetnsFilter } from "../src/sources/ebpf/netns-filter.ts";

// --netns own with the eBPF probe, which sees every namespace (src/sources/ebpf/netns-filter.ts): a
// socket of another namespace is left out from its connect to its close, established included,
// though that record does not name its namespace. The real thing is test/integration/login.paths.

const connect = (sk: string, netns: number): KernelEvent => ({
  kind: "connect",
  sk,
  pid: 1,
  tid: 1,
  uid: 0,
  ppid: 0,
  netns,
  inode: 1,
  family: "ipv4",
  dport: 22,
  daddr: "10.0.0.1",
  timeNs: 1n,
  comm: "ssh",
});
const established = (sk: string): KernelEvent => ({
  kind: "established",
  sk,
  sport: 4000,
  saddr: "10.0.0.2",
  timeNs: 2n,
});
const close = (sk: string, netns: number): KernelEvent => ({
  kind: "close",
  sk,
  oldState: "ESTABLISHED",
  bytesAcked: 1,
  bytesReceived: 1,
  timeNs: 3n,
  family: "ipv4",
  sport: 4000,
  dport: 22,
  netns,
  saddr: "10.0.0.2",
  daddr: "10.0.0.1",
});

test("own namespace's socket kept through its life; another's left out, established included, and counted", () => {
  const f = new OwnNetnsFilter(100);
  assert.deepEqual(
    [connect("a", 100), established("a"), close("a", 100)].map((e) => f.keep(e)),
    [true, true, true],
  );
  assert.deepEqual(
    [connect("b", 200), established("b"), close("b", 200)].map((e) => f.keep(e)),
    [false, false, false],
  );
  assert.equal(f.dropped, 1);
  // The kernel reuses a socket's address: once the foreign one closed, the address is ours again.
  assert.deepEqual(
    [connect("b", 100), established("b")].map((e) => f.keep(e)),
    [true, true],
  );
});

test("the daemon's own namespace is read from /proc/self/ns/net", () => {
  assert.ok(OwnNetnsFilter.forSelf() instanceof OwnNetnsFilter);
});
