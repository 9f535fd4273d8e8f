import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Daemon, Ev } from "./daemon.ts";
import type { TestSshd } from "./sshd.ts";

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Waits for the close of the connection matched by `pred`, then asserts that its connection id was
 * written exactly twice, opened then closed, and is a UUIDv7. Returns both records.
 */
export async function session(d: Daemon, what: string, pred: (e: Ev) => boolean): Promise<[Ev, Ev]> {
  const closed = await d.waitFor(
    `close of ${what}`,
    (e) => pred(e) && e.event?.action === "connection-closed",
  );
  const id = closed.ssh_outbound.connection_id;
  assert.match(id, UUID7);
  const mine = d.events.filter((e) => e.ssh_outbound?.connection_id === id);
  assert.deepEqual(
    mine.map((e) => e.event.action),
    ["connection-opened", "connection-closed"],
    `${what}: one opened and one closed record with the same id`,
  );
  const opened = d.events.filter((e) => pred(e) && e.event.action === "connection-opened");
  assert.equal(opened.length, 1, `${what}: exactly one connection-opened`);
  return mine as [Ev, Ev];
}

/** The facts every record of a real `ssh` session to the test sshd must carry. */
export function assertSshClient(e: Ev, sshd: TestSshd, pid: number, command: string): void {
  assert.equal(e.process.pid, pid);
  assert.equal(e.process.name, "ssh");
  assert.equal(e.process.executable, "/usr/bin/ssh");
  assert.equal(e.user.name, sshd.user);
  assert.equal(e.destination.ip, "127.0.0.1");
  assert.equal(e.destination.port, sshd.port);
  assert.deepEqual(e.ssh_outbound.target, {
    client: "ssh",
    user: sshd.user,
    host: "127.0.0.1",
    port: sshd.port,
    jump: [],
    command,
    identity_files: [`${sshd.dir}/user`],
  });
  assert.equal(e.ssh_outbound.attribution, "complete");
  // Two hosts of one name stay apart: the machine id is in every record, when the machine has one.
  assert.equal(e.host.id, machineId());
  assert.equal(e.ssh_outbound.ancestry[0].pid, 1, "ancestry starts at pid 1");
  assert.ok(
    e.ssh_outbound.ancestry.some((a: Ev) => a.pid === process.pid),
    "the test process is among the ancestors",
  );
  assert.equal(e.process.parent.pid, process.pid);
}

function machineId(): string | undefined {
  try {
    const id = readFileSync("/etc/machine-id", "utf8").trim();
    return /^[0-9a-f]{32}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
