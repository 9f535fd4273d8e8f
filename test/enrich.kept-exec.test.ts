import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { clock } from "../src/clock.ts";
import { Enricher } from "../src/enrich/enricher.ts";
import { EXEC_SIZE, parseExecChain } from "../src/sources/ebpf/probe-records.ts";
import type { KeptExec } from "../src/sources/types.ts";
import type { ConnectionEvent } from "../src/track/tracker.ts";

/** A `struct probe_exec` (native/probe.h) as the program writes it. */
function execRecord(o: {
  pid: number;
  ppid: number;
  uid: number;
  startNs: bigint;
  comm: string;
  filename: string;
  argv: string[];
  total?: number;
  /** The login's uid and audit session; the kernel's unset ((u32)-1) when not given. */
  loginUid?: number;
  session?: number;
}): Buffer {
  const b = Buffer.alloc(EXEC_SIZE);
  const args = Buffer.from(`${o.argv.join("\0")}\0`);
  const kept = args.subarray(0, 512);
  b.writeBigUInt64LE(o.startNs, 0);
  b.writeUInt32LE(o.pid, 8);
  b.writeUInt32LE(o.ppid, 12);
  b.writeUInt32LE(o.uid, 16);
  b.writeUInt32LE(o.uid, 20);
  b.writeUInt32LE(kept.length, 24);
  b.writeUInt32LE(o.total ?? args.length, 28);
  b.write(o.comm, 32);
  b.write(o.filename, 48);
  kept.copy(b, 176);
  b.writeUInt32LE(o.loginUid ?? 0xffffffff, 688);
  b.writeUInt32LE(o.session ?? 0xffffffff, 692);
  return b;
}

test("the probe's exec records parse: argv, path, ids, login, start in clock ticks; a cut argv says its whole size", () => {
  const long = ["ssh", "-o", `ProxyCommand=${"x".repeat(600)}`, "db1"];
  const chain = parseExecChain(
    Buffer.concat([
      execRecord({
        pid: 4242,
        ppid: 4200,
        uid: 1000,
        startNs: 12_345_670_000_000n,
        comm: "ssh",
        filename: "/usr/bin/ssh",
        argv: ["ssh", "-p", "2222", "alice@db1", "uptime"],
        loginUid: 1000,
        session: 7,
      }),
      execRecord({
        pid: 4200,
        ppid: 1,
        uid: 1000,
        startNs: 1_000_000_000n,
        comm: "bash",
        filename: "/bin/bash",
        argv: long,
      }),
    ]),
  );
  assert.deepEqual(chain[0], {
    pid: 4242,
    ppid: 4200,
    uid: 1000,
    euid: 1000,
    startTicks: 1_234_567,
    comm: "ssh",
    executable: "/usr/bin/ssh",
    args: ["ssh", "-p", "2222", "alice@db1", "uptime"],
    loginUid: 1000,
    auditSession: 7,
  });
  const cut = chain[1] as KeptExec;
  assert.equal(cut.loginUid, undefined, "no login: the kernel's unset");
  assert.equal(cut.auditSession, undefined);
  assert.equal(cut.argsBytes, Buffer.byteLength(`${long.join("\0")}\0`));
  assert.equal(cut.args.join("\0"), `${long.join("\0")}\0`.slice(0, 512));
});

test("a connection whose process is gone is written from what the probe kept: process, argv, typed target, its parent alive", () => {
  // A pid that no process has (above the kernel's pid_max), whose parent is this very process.
  const gone = 4_194_400;
  const me = readFileSync(`/proc/${process.pid}/comm`, "utf8").trim();
  const kept: KeptExec[] = [
    {
      pid: gone,
      ppid: process.pid,
      uid: 1000,
      euid: 1000,
      startTicks: 100,
      comm: "ssh",
      executable: "/usr/bin/ssh",
      args: ["ssh", "-p", "2222", "alice@db1", "uptime"],
    },
  ];
  const now = clock.nowNs();
  const ev: ConnectionEvent = {
    id: "0190a0a0-0000-7000-8000-000000000009",
    source: "ebpf",
    action: "opened",
    timeNs: now,
    startNs: now,
    observed: "while-down",
    socket: {
      key: "ino:9",
      family: "ipv4",
      remote: { ip: "192.0.2.1", port: 2222 },
      state: "ESTABLISHED",
      uid: 1000,
      owner: { pid: gone, comm: "ssh", uid: 1000, ppid: process.pid, parentComm: me, kept },
    },
  };
  const out = new Enricher().enrich(ev);
  assert.ok(out);
  assert.equal(out.attribution, "kept");
  assert.equal(out.process?.executable, "/usr/bin/ssh");
  assert.deepEqual(out.process?.args, ["ssh", "-p", "2222", "alice@db1", "uptime"]);
  assert.equal(out.target?.host, "db1");
  assert.equal(out.target?.user, "alice");
  assert.equal(out.target?.port, 2222);
  assert.equal(out.parent?.pid, process.pid, "its parent, alive, read from /proc");
  assert.equal(out.ancestry.at(-1)?.pid, process.pid);
});

test("what the probe kept of another process at that pid (another name) is not used", () => {
  const gone = 4_194_401;
  const now = clock.nowNs();
  const out = new Enricher().enrich({
    id: "0190a0a0-0000-7000-8000-00000000000a",
    source: "ebpf",
    action: "opened",
    timeNs: now,
    startNs: now,
    observed: "while-down",
    socket: {
      key: "ino:10",
      family: "ipv4",
      remote: { ip: "192.0.2.1", port: 22 },
      state: "ESTABLISHED",
      owner: {
        pid: gone,
        comm: "scp",
        kept: [{ pid: gone, ppid: 1, uid: 0, euid: 0, startTicks: 1, comm: "ssh", args: ["ssh", "db1"] }],
      },
    },
  });
  assert.equal(out?.attribution, "partial");
  assert.equal(out?.process?.args, undefined);
});
