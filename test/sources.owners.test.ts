import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeProc } from "./helpers/fake-proc.ts";
import { quietDiag } from "./helpers/fakes.ts";

const proc = fakeProc();
process.env.SSH_OUTBOUND_PROC_ROOT = proc.root;
const { OwnerResolver } = await import("../src/sources/procfs/owners.ts");

const wanted = (entries: [number, boolean][]) =>
  new Map(entries.map(([ino, portMatch]) => [ino, { portMatch, uid: 0 }]));

test("an SSH client's socket is found among the clients, on any port, without reading anyone else", () => {
  proc.process(100, { comm: "ssh", sockets: [5001] }).process(101, { comm: "java", sockets: [5002] });
  const r = new OwnerResolver(new Set(["ssh"]), quietDiag());
  r.prime([100, 101]);
  const found = r.resolve(wanted([[5001, false]]), [100, 101]);
  assert.deepEqual(found.get(5001), { pid: 100, fd: 3, comm: "ssh" });
  assert.equal(r.stats.fdDirsRead, 1, "only the client's descriptors were read");
});

test("a socket to an SSH port held by another program: found among the processes that ran since", () => {
  proc
    .process(200, { comm: "idle", sockets: [1, 2, 3] })
    .process(201, { comm: "python3", sockets: [6001], cpu: 10 });
  const r = new OwnerResolver(new Set(["ssh"]), quietDiag());
  r.prime([200, 201]);
  proc.cpu(201, 99);
  const found = r.resolve(wanted([[6001, true]]), [200, 201]);
  assert.equal(found.get(6001)?.pid, 201);
  assert.equal(r.stats.fullScans, 0, "the idle process was never read");
});

test("when the active processes do not hold it, every process is read once (a full scan), and no more", () => {
  proc.process(300, { comm: "daemon", sockets: [7001] }).process(301, { comm: "other" });
  const r = new OwnerResolver(new Set(["ssh"]), quietDiag());
  r.prime([300, 301]);
  const found = r.resolve(wanted([[7001, true]]), [300, 301]);
  assert.equal(found.get(7001)?.pid, 300);
  assert.equal(r.stats.fullScans, 1);
  // A socket gone already (present() false) is not worth a full scan.
  const none = r.resolve(wanted([[7999, true]]), [300, 301], undefined, () => false);
  assert.equal(none.size, 0);
  assert.equal(r.stats.fullScans, 1);
});

test("a socket on another port held by no client is not looked for beyond the clients", () => {
  proc.process(400, { comm: "curl", sockets: [8001] });
  const r = new OwnerResolver(new Set(["ssh"]), quietDiag());
  r.prime([400]);
  assert.equal(r.resolve(wanted([[8001, false]]), [400]).size, 0);
  assert.equal(r.stats.fdDirsRead, 0);
});
