import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fakeProc } from "./helpers/fake-proc.ts";

// The modules read SSH_OUTBOUND_PROC_ROOT when they load: set it first, then import them.
const proc = fakeProc();
process.env.SSH_OUTBOUND_PROC_ROOT = proc.root;
const { PidTable } = await import("../src/sources/procfs/pid-table.ts");
const { pidReadFaults } = await import("../src/proc-io.ts");

test("one representative per namespace, SSH clients by namespace; a vanished pid is forgotten", () => {
  proc.process(10, { comm: "bash" }).process(11, { comm: "ssh" }).process(20, { comm: "ssh", netns: 77 });
  const t = new PidTable(new Set(["ssh"]), 100, 0);
  const { reps, clients } = t.refresh();
  assert.equal(reps.get(77), 20, "the other namespace's representative");
  assert.deepEqual(clients.get(4026531840), [11]);
  assert.deepEqual(clients.get(77), [20]);
  proc.gone(20);
  const again = t.refresh();
  assert.equal(again.reps.has(77), false);
  assert.equal(t.comm(20), undefined);
});

test("a young process is read again at every call: fork then exec into ssh makes it a client", () => {
  proc.process(30, { comm: "bash" });
  const t = new PidTable(new Set(["ssh"]), 1000, 20);
  t.refresh();
  proc.process(31, { comm: "bash" });
  t.refresh();
  proc.process(31, { comm: "ssh" });
  assert.deepEqual(
    t.refresh().clients.get(4026531840),
    [11, 31].filter((p) => t.comm(p) === "ssh"),
  );
  assert.equal(t.comm(31), "ssh");
  assert.equal(t.comm(30), "bash", "an old pid is not read again outside its slot");
});

test("a stat that cannot be read (EISDIR) is counted, and that process is just not a client", () => {
  proc.process(40, {});
  mkdirSync(join(proc.root, "40", "stat"));
  const before = pidReadFaults.get("EISDIR") ?? 0;
  const t = new PidTable(new Set(["ssh"]), 100, 0);
  const { clients } = t.refresh();
  assert.ok((pidReadFaults.get("EISDIR") ?? 0) > before, "counted");
  assert.ok(!(clients.get(4026531840) ?? []).includes(40));
  assert.equal(t.comm(40), undefined);
});

test("a client's child (its ProxyCommand) counts with the clients; a grandchild or a stranger does not", () => {
  proc.process(50, { comm: "ssh", netns: 88 }).process(51, { comm: "nc", ppid: 50, netns: 88 });
  proc.process(52, { comm: "cat", ppid: 51, netns: 88 }).process(53, { comm: "nc", ppid: 1, netns: 88 });
  const t = new PidTable(new Set(["ssh"]), 100, 0);
  assert.deepEqual(t.refresh().clients.get(88), [50, 51]);
});

test("/proc is listed again only when /proc/loadavg says a task came or went", () => {
  const loadavg = (tasks: number, last: number) =>
    writeFileSync(join(proc.root, "loadavg"), `0.00 0.01 0.05 1/${tasks} ${last}\n`);
  try {
    proc.process(60, { comm: "bash" });
    loadavg(100, 60);
    const t = new PidTable(new Set(["ssh"]), 1000, 0);
    t.refresh();
    assert.equal(t.comm(60), "bash");
    // A pid that appears while loadavg stands still is not looked for: the kernel would have moved it.
    proc.process(61, { comm: "ssh" });
    t.refresh();
    assert.equal(t.listingsSpared, 1);
    assert.equal(t.comm(61), undefined);
    // A new pid moves the last pid handed out: listed, and found.
    loadavg(101, 61);
    assert.deepEqual(t.refresh().clients.get(4026531840)?.includes(61), true);
    assert.equal(t.comm(61), "ssh");
    // One that ends moves the task count: listed, and forgotten.
    proc.gone(61);
    loadavg(100, 61);
    t.refresh();
    assert.equal(t.comm(61), undefined);
    assert.equal(t.listingsSpared, 1);
  } finally {
    rmSync(join(proc.root, "loadavg"), { force: true });
  }
});
