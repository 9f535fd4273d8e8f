import assert from "node:assert/strict";
import { test } from "node:test";
import { cgroup2RootIn } from "../src/sources/ebpf/cgroup-root.ts";
import { type KernelEvent, KernelTable } from "../src/sources/ebpf/kernel-table.ts";
import {
  bannerText,
  CLIENT_RECORD_SIZE,
  parseProbeRecords,
  RECORD_SIZE,
} from "../src/sources/ebpf/probe-records.ts";
import type { Observation } from "../src/sources/types.ts";

// SSH by its protocol (issue 24), the source's side: the probe's BANNER records and a connect's reason,
// banners joined to their sockets, and where the cgroup v2 root is.

/** A record laid out as native/probe.h has it: kind, sk, time, oldstate, bytes_acked, and the path. */
function record(
  kind: number,
  sk: bigint,
  timeNs: bigint,
  oldState: number,
  extra: { bytes?: number; text?: string; dport?: number } = {},
): Buffer {
  const b = Buffer.alloc(kind === 6 ? CLIENT_RECORD_SIZE : RECORD_SIZE);
  b.writeBigUInt64LE(sk, 0);
  b.writeBigUInt64LE(timeNs, 8);
  b.writeBigUInt64LE(BigInt(extra.bytes ?? 0), 16);
  b.writeUInt32LE(kind, 40);
  b.writeUInt16LE(2, 64);
  b.writeUInt16LE(extra.dport ?? 2222, 68);
  b.writeUInt16LE(oldState, 70);
  b.set([127, 0, 0, 1], 88);
  if (extra.text !== undefined) Buffer.from(extra.text, "latin1").copy(b, RECORD_SIZE, 0, 112);
  return b;
}

test("a connect chosen by its protocol says so; a banner record gives its side and its line", () => {
  const buf = Buffer.concat([
    record(1, 0xffff8881n, 5n, 4),
    record(6, 0xffff8881n, 7n, 2, { bytes: 24, text: "SSH-2.0-OpenSSH_9.2p1\r\n" }),
    record(6, 0xffff8881n, 8n, 1, { bytes: 30, text: "SSH-2.0-paramiko_2.12.0\r\nxyz" }),
    record(1, 0xffff8882n, 9n, 1, { dport: 22 }),
    record(1, 0xffff8883n, 9n, 3),
  ]);
  const ev = parseProbeRecords(buf, (m) => m);
  assert.deepEqual(
    ev.map((e) => (e.kind === "connect" ? e.via : e.kind === "banner" ? `${e.side}:${e.text}` : e.kind)),
    ["protocol", "server:SSH-2.0-OpenSSH_9.2p1", "client:SSH-2.0-paramiko_2.12.0", "port", "client"],
  );
});

test("a banner is its line up to LF (CR dropped); one longer than what was kept ends in …; bytes not UTF-8 kept", () => {
  assert.equal(bannerText(Buffer.from("SSH-2.0-Go\r\n"), 12), "SSH-2.0-Go");
  assert.equal(bannerText(Buffer.from("SSH-2.0-Go\n"), 11), "SSH-2.0-Go");
  // 112 bytes kept of a 300-byte payload with no line end in them: cut, and said so.
  const long = Buffer.alloc(112, 0x41);
  long.write("SSH-2.0-");
  assert.equal(bannerText(long, 300), `SSH-2.0-${"A".repeat(104)}…`);
  // Only what the packet held counts: the rest of the room is not part of the banner.
  assert.equal(bannerText(Buffer.concat([Buffer.from("SSH-2.0-x"), Buffer.alloc(103)]), 9), "SSH-2.0-x");
  assert.equal(bannerText(Buffer.from([0x53, 0x53, 0x48, 0x2d, 0xff, 0x0d, 0x0a]), 7), "SSH-\udcff");
});

const connect = (n: number, timeNs: bigint): KernelEvent => ({
  kind: "connect",
  sk: `sk${n}`,
  pid: 100,
  tid: 100,
  uid: 0,
  ppid: 1,
  netns: 1,
  inode: 1000 + n,
  family: "ipv4",
  dport: 2222,
  daddr: "127.0.0.1",
  timeNs,
  comm: "x",
  via: "protocol",
});
const banner = (n: number, side: "client" | "server", timeNs: bigint): KernelEvent => ({
  kind: "banner",
  sk: `sk${n}`,
  side,
  text: `SSH-2.0-${side}`,
  timeNs,
});

test("banners go to their socket; one that came just before its connect is kept for it, never for an older socket", () => {
  const out: Observation[] = [];
  let protocol = true;
  const t = new KernelTable(
    (o) => out.push(o),
    [22],
    () => protocol,
  );
  // The other way claimed the connection on another CPU: its banner came first.
  t.event(banner(1, "client", 12n));
  t.event(connect(1, 10n));
  t.event({ kind: "established", sk: "sk1", sport: 5000, saddr: "127.0.0.1", timeNs: 11n });
  t.event(banner(1, "server", 13n));
  // A banner of a socket at an address that a later connect reuses: older than that connect, not its.
  t.event(banner(2, "client", 5n));
  t.event(connect(2, 20n));
  protocol = false;
  t.event({ kind: "established", sk: "sk2", sport: 5001, saddr: "127.0.0.1", timeNs: 21n });
  assert.deepEqual(
    out.map((o) =>
      o.type === "banner"
        ? `banner:${o.key}:${o.side}`
        : o.type === "established"
          ? `established:${o.banners ?? "-"}`
          : o.type,
    ),
    [
      "connect",
      "banner:ino:1001:client",
      "established:true",
      "banner:ino:1001:server",
      "connect",
      "established:-",
    ],
  );
  const first = out[0];
  assert.equal(first?.type === "connect" && first.socket.detectedBy, "protocol");
  assert.equal(t.stats().banners, 3);
  assert.equal(t.stats().banners_unmatched, 1);
});

test("the cgroup v2 root: unified at /sys/fs/cgroup, hybrid under it; none on a v1-only host", () => {
  const unified =
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  const hybrid = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");
  // A bind mount of a sub-cgroup is not the root; an escaped space in the path is read back.
  const bound = [
    "50 23 0:26 /system.slice /mnt/sub rw - cgroup2 cgroup2 rw",
    "51 23 0:26 / /mnt/with\\040space rw - cgroup2 cgroup2 rw",
  ].join("\n");
  assert.equal(cgroup2RootIn(unified), "/sys/fs/cgroup");
  assert.equal(cgroup2RootIn(hybrid), "/sys/fs/cgroup/unified");
  assert.equal(cgroup2RootIn(bound), "/mnt/with space");
  assert.equal(cgroup2RootIn("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), undefined);
});
