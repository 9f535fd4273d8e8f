import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeUtf8Escaped } from "../src/bytes.ts";
import { parseCmdline } from "../src/enrich/process.ts";
import {
  ANCESTOR_ARGV_MAX,
  boundArgs,
  boundString,
  byteLength,
  PROCESS_ARGV_MAX,
  RECORD_MAX,
} from "../src/format/argv-bound.ts";
import { toEcs } from "../src/format/ecs.ts";
import { formatJson } from "../src/format/json.ts";
import type { EnrichedEvent } from "../src/format/record.ts";
import { formatText } from "../src/format/text.ts";
import type { Ev } from "./helpers/daemon.ts";
import { assertValidEvent } from "./helpers/schema.ts";

test("byte lengths are those of /proc/PID/cmdline: UTF-8, a carried raw byte counts one", () => {
  assert.equal(byteLength("abc"), 3);
  assert.equal(byteLength("é"), 2);
  assert.equal(byteLength("€"), 3);
  assert.equal(byteLength("😀"), 4);
  assert.equal(byteLength(decodeUtf8Escaped(Buffer.from([0x61, 0xff, 0xfe]))), 3);
});

test("an argv within the bound is kept whole and not marked", () => {
  const args = ["ssh", "-p", "22", "db1", "uptime"];
  assert.deepEqual(boundArgs(args, 100), { args });
  // Exactly at the bound: 4 + 3 bytes with their NULs.
  assert.deepEqual(boundArgs(["abc", "de"], 7), { args: ["abc", "de"] });
});

test("a long argv keeps a prefix, the edge argument cut on a character, and says what the whole was", () => {
  const r = boundArgs(["java", "-cp", "é".repeat(600), "Main"], 100);
  // 5 + 4 bytes, then 90 bytes of the classpath with its NUL: 44 two-byte characters (89 bytes).
  assert.equal(r.args.length, 3);
  assert.deepEqual(r.args.slice(0, 2), ["java", "-cp"]);
  assert.equal(r.args[2], "é".repeat(45));
  assert.deepEqual(r.cut, { bytes: 5 + 4 + 1201 + 5, kept: 5 + 4 + 91 });
  assert.ok((r.cut?.kept as number) <= 100);
  const s = boundString("x".repeat(5000), 1024);
  assert.equal(s.value.length, 1024);
  assert.deepEqual(s.cut, { bytes: 5000, kept: 1024 });
});

test("setproctitle padding is trimmed; a real trailing empty argument is kept", () => {
  const padded = Buffer.from(`sshd: root [priv]${"\0".repeat(77)}`);
  assert.deepEqual(parseCmdline(padded), ["sshd: root [priv]"]);
  assert.deepEqual(parseCmdline(Buffer.from("ssh\0host\0\0")), ["ssh", "host", ""]);
});

function event(args: string[], ancestorArgs: string[]): EnrichedEvent {
  return {
    id: "01930000-0000-7000-8000-000000000000",
    action: "opened",
    timeNs: 1_700_000_000_000_000_000n,
    startNs: 1_700_000_000_000_000_000n,
    source: "procfs",
    observed: "live",
    socket: {
      family: "ipv4",
      state: "ESTABLISHED",
      inode: 7,
      key: "7",
      local: { ip: "127.0.0.1", port: 40000 },
      remote: { ip: "127.0.0.1", port: 22 },
      owner: { pid: 20, fd: 3 },
    },
    process: {
      pid: 20,
      name: "ssh",
      ppid: 10,
      args,
      startNs: 1n,
      uid: 0,
      user: "root",
      euid: 0,
      euser: "root",
    },
    parent: { pid: 10, name: "runner", args: ancestorArgs, startNs: 1n, uid: 0, user: "root" },
    ancestry: [
      { pid: 1, name: "init", args: ["/sbin/init"], user: "root", startNs: 1n },
      { pid: 10, name: "runner", args: ancestorArgs, user: "root", startNs: 1n },
    ],
    target: { client: "ssh", host: "db1", jump: [], command: args.slice(2).join(" ") },
    attribution: "complete",
  } as unknown as EnrichedEvent;
}

test("a record carries the argv once, ancestors' argv cut at 1 KiB, the process's at 64 KiB", () => {
  const huge = ["runner", ...Array.from({ length: 2000 }, (_, i) => `test/file-${i}.test.ts`)];
  const command = "y".repeat(100 * 1024);
  const j = toEcs(event(["ssh", "db1", command], huge), { hostname: "h" }) as Ev;
  const line = JSON.stringify(j);
  assert.equal(j.process.command_line, undefined, "no second copy of the argv");
  assert.equal(j.process.args_count, 3);
  assert.deepEqual(j.ssh_outbound.args_cut, { bytes: 4 + 4 + command.length + 1, kept: PROCESS_ARGV_MAX });
  assert.equal(j.process.args[2].length, PROCESS_ARGV_MAX - 8 - 1);
  const runner = j.ssh_outbound.ancestry[1];
  assert.ok(runner.args_cut.kept <= ANCESTOR_ARGV_MAX && runner.args_cut.bytes > 40_000);
  assert.equal(j.ssh_outbound.ancestry[0].args_cut, undefined);
  assert.equal(j.process.parent.args_count, huge.length);
  assert.ok(JSON.stringify(j.process.parent).length < 2 * ANCESTOR_ARGV_MAX);
  assert.equal(j.ssh_outbound.target.command.length, 1024);
  assert.deepEqual(j.ssh_outbound.target.command_cut, { bytes: command.length, kept: 1024 });
  // 64 KiB of argv, 1 KiB of command, 2 ancestors' 1 KiB each, and the fixed fields.
  assert.ok(line.length < PROCESS_ARGV_MAX + 6 * 1024, `record of ${line.length} bytes`);
});

test("text: the tree is name[pid] from pid 1 down, and the command line is whole", () => {
  const huge = ["runner", ...Array.from({ length: 2000 }, (_, i) => `f${i}`)];
  const line = formatText(event(["ssh", "db1", "uptime"], huge));
  assert.match(line, / tree="init\[1\] > runner\[10\] > ssh\[20\]"\n$/);
  assert.match(line, / cmd="ssh db1 uptime"/);
  assert.ok(!line.includes("f1999"));
});

test("no record is longer than RECORD_MAX, however the argv, ancestry and target inflate in JSON", () => {
  const ctl = "\u0001".repeat(1024); // 6 characters each in JSON
  const ev = event(["ssh", ...Array.from({ length: 64 }, () => ctl), "db1"], [ctl]);
  ev.ancestry = Array.from({ length: 64 }, (_, i) => ({
    pid: i + 2,
    name: "bash",
    args: [ctl, ctl],
    user: "root",
    startNs: 1n,
  }));
  ev.target = { client: "ssh", host: ctl, jump: Array.from({ length: 300 }, () => ctl), command: ctl };
  const line = formatJson(ev, { hostname: "h" });
  assert.ok(Buffer.byteLength(line) <= RECORD_MAX, `${Buffer.byteLength(line)} bytes`);
  const j = JSON.parse(line);
  assertValidEvent(j);
  assert.ok(j.ssh_outbound.record_cut.bytes > RECORD_MAX, "says how long it would have been");
  assert.equal(j.ssh_outbound.ancestry.at(-1).pid, 65, "the nearest ancestors are kept");
  // An ordinary record is written at the first bounds and says nothing of it.
  const plain = JSON.parse(formatJson(event(["ssh", "db1", "uptime"], ["bash"]), { hostname: "h" }));
  assert.equal(plain.ssh_outbound.record_cut, undefined);
  assert.deepEqual(plain.process.args, ["ssh", "db1", "uptime"]);
});
