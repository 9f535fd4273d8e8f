import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { isSshServer, sessionOrigin } from "../src/enrich/forwarded.ts";

// Where a session of our sshd came from (src/enrich/forwarded.ts): the process holds the session's
// inbound connection, one this namespace's listener accepted; its remote end is the origin. Here this
// process plays sshd: it accepted a connection from its own client socket.

test("the origin is the remote end of the accepted connection the process holds", async () => {
  const accepted: Socket[] = [];
  const server = createServer((s) => void accepted.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const c = connect((server.address() as { port: number }).port, "127.0.0.1");
  await new Promise<void>((r) => c.once("connect", r));
  while (accepted.length === 0) await new Promise((r) => setImmediate(r));
  try {
    assert.deepEqual(sessionOrigin(process.pid, undefined), {
      ip: "127.0.0.1",
      port: c.localPort,
      local: { ip: "127.0.0.1", port: (server.address() as { port: number }).port },
    });
  } finally {
    c.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
  assert.equal(sessionOrigin(2 ** 22 + 1, undefined), undefined, "a process that is gone");
});

test("sshd by either of its names", () => {
  assert.deepEqual(["sshd", "sshd-session", "ssh", undefined].map(isSshServer), [true, true, false, false]);
});
