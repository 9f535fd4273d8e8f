import assert from "node:assert/strict";
import { readlinkSync } from "node:fs";
import { connect, createServer } from "node:net";
import { test } from "node:test";
import { clientSockets } from "../src/sources/client-sockets.ts";

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
