import assert from "node:assert/strict";
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { needs } from "../helpers/ci.ts";
import {
  asNobody,
  EBPF_OK,
  HOSTILE_READY,
  HOSTILE_WHY,
  PYTHON,
  sources,
  watching,
} from "../helpers/hostile.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { freePort, startSshd, type TestSshd } from "../helpers/sshd.ts";

// Issue 19, item 7, the smaller ones that a local user can use: a binary deleted once it runs (a
// classic sign of malware hiding its file) is said in the record, not hidden; more than 64 watched
// ports do not make the eBPF probe fail (its maps are sized from the configuration).

const DELETED = `
import os, socket, sys, time
sshd = int(sys.argv[1])
os.unlink(sys.executable)  # the copy of python3 this runs from
s = socket.create_connection(("127.0.0.1", sshd))
s.recv(64)
time.sleep(0.5)  # longer than any procfs poll
s.close()
REPORT = {"done": 1}
`;

let sshd: TestSshd | undefined;
before(async () => {
  if (HOSTILE_READY) sshd = await startSshd();
});
after(() => sshd?.stop());

for (const source of sources()) {
  test(`${source}: a connection from a binary deleted after it started says so`, async (t) => {
    if (!needs(t, HOSTILE_READY, HOSTILE_WHY)) return;
    const s = sshd as TestSshd;
    const dir = scratchDir("sol-hostile-deleted-");
    chmodSync(dir, 0o777);
    const copy = join(dir, "innocent");
    copyFileSync(PYTHON, copy);
    chmodSync(copy, 0o755);
    const d = await watching(source, String(s.port));
    try {
      // The copy is run by nobody; it deletes itself, then connects and waits for the banner.
      const attack = asNobody(DELETED, [String(s.port)], copy);
      const ev = await d.waitFor(
        "the deleted binary's connection",
        (e) => e.event?.action === "connection-closed" && e.process?.executable === copy,
        15_000,
      );
      const result = await attack.done;
      assert.equal(result.code, 0, result.stderr);
      assertValidEvent(ev);
      assert.equal(ev.ssh_outbound.executable_deleted, true);
      assert.equal(ev.user.name, "nobody");
    } finally {
      await d.stop();
    }
  });
}

test("ebpf: 100 watched ports fit the probe's maps; a connection to the last one is logged", async (t) => {
  if (!needs(t, HOSTILE_READY && EBPF_OK(), `${HOSTILE_WHY}; and the eBPF probe`)) return;
  const s = sshd as TestSshd;
  const others: number[] = [];
  while (others.length < 99) {
    const p = await freePort();
    if (p !== s.port && !others.includes(p)) others.push(p);
  }
  const d = await watching("ebpf", [...others, s.port].join(","));
  const started = d.started;
  try {
    assert.equal(started.ssh_outbound.monitor.source, "ebpf", "no fallback");
    assert.equal(started.ssh_outbound.monitor.ports.length, 100);
    const attack = asNobody(
      `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.recv(64); s.close()
REPORT = {"done": 1}
`,
      [String(s.port)],
    );
    assert.equal((await attack.done).code, 0);
    await d.waitFor(
      "the connection to the 100th port",
      (e) =>
        e.event?.action === "connection-closed" &&
        e.user?.name === "nobody" &&
        e.destination?.port === s.port,
      15_000,
    );
  } finally {
    await d.stop();
  }
});
