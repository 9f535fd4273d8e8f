import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readlinkSync, statSync } from "node:fs";
import { connect, createServer } from "node:net";
import { test } from "node:test";
import { fdLinks, socketInodes } from "../src/proc-io.ts";
import { clientSockets } from "../src/sources/client-sockets.ts";
import { needs } from "./helpers/ci.ts";

// The sockets a client process holds (src/sources/client-sockets.ts), read from its descriptor links:
// here this process's own, with a connection it just made among them.

test("a process's sockets, each with its pid; a pid that is gone holds none", async () => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const c = connect((server.address() as { port: number }).port, "127.0.0.1");
  await new Promise<void>((r) => c.once("connect", r));
  try {
    const fd = (c as unknown as { _handle: { fd: number } })._handle.fd;
    const inode = Number(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1]);
    const held = clientSockets([process.pid, 2 ** 22 + 1]);
    assert.equal(held.get(inode), process.pid);
    assert.ok([...held.values()].every((pid) => pid === process.pid));
  } finally {
    c.destroy();
    server.close();
  }
});

test("a process holding hundreds of descriptors: its first 64 read by number are the first 64 listed", async (t) => {
  // Python holds 300 UDP sockets with a hole in their numbers; listing /proc/PID/fd would make the kernel
  // build some 1,300 entries per call, so fdLinks reads such a process's descriptors by number.
  const child = spawn(
    "python3",
    [
      "-c",
      "import socket, sys, time\nh = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(300)]\n" +
        "for s in h[10:30]: s.close()\nprint('ready', flush=True)\ntime.sleep(60)",
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  t.after(() => child.kill());
  if (!needs(t, await readyLine(child), "python3 is needed (test/system-packages.txt)")) return;
  const pid = child.pid as number;
  const dir = `/proc/${pid}/fd`;
  assert.ok(statSync(dir).size > 64, "the directory's size counts the descriptors (Linux 6.2 and later)");
  const listed = readdirSync(dir)
    .map(Number)
    .sort((a, b) => a - b)
    .slice(0, 64)
    .map((fd) => readlinkSync(`${dir}/${fd}`));
  assert.deepEqual(fdLinks(pid, 64), listed);
  assert.equal(socketInodes(pid, 64).length, listed.filter((l) => l.startsWith("socket:[")).length);
  // A process with fewer than `max` is listed: the same links either way.
  const few = readdirSync("/proc/self/fd")
    .map(Number)
    .sort((a, b) => a - b);
  assert.equal(fdLinks(process.pid, 4096).length, few.length);
});

function readyLine(child: ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    child.once("error", () => resolve(false));
    child.once("exit", () => resolve(false));
    child.stdout?.once("data", (d) => resolve(String(d).startsWith("ready")));
  });
}
