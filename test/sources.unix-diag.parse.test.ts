import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { SockDiagError } from "../src/sources/procfs/sock-diag.ts";
import { parseUnixReply, unixLookupRequest } from "../src/sources/procfs/unix-diag.ts";

// Captured from Linux 6.18 (one lookup by inode each): a listener bound to /tmp/sol-unix-capture.sock
// (inode 3965948), a client connected to it (3965949) and the server's end of that connection (3965950),
// and a listener on the abstract name "sol-abstract-capture" as Node binds it (the whole 108-byte
// sun_path, so the name carries its trailing NULs).
const replies = JSON.parse(
  readFileSync(new URL("fixtures/unix-diag-replies.json", import.meta.url), "utf8"),
) as Record<string, string>;
const reply = (inode: number) => Buffer.from(replies[String(inode)] as string, "hex");

test("a lookup request asks for one socket by inode, with its name and peer", () => {
  const r = unixLookupRequest(3965948);
  assert.equal(r.length, 16 + 24);
  assert.equal(r.readUInt32LE(0), r.length);
  assert.equal(r.readUInt8(16), 1, "AF_UNIX");
  assert.equal(r.readUInt32LE(24), 3965948);
  assert.equal(r.readUInt32LE(28), 0x01 | 0x04, "UDIAG_SHOW_NAME | UDIAG_SHOW_PEER");
});

test("replies parse to the socket's type, state, path and peer", () => {
  assert.deepEqual(parseUnixReply(reply(3965948), false), [
    { type: 1, state: 10, inode: 3965948, name: "/tmp/sol-unix-capture.sock" },
  ]);
  assert.deepEqual(parseUnixReply(reply(3965949), false), [
    { type: 1, state: 1, inode: 3965949, peer: 3965950 },
  ]);
  assert.deepEqual(parseUnixReply(reply(3965950), false), [
    { type: 1, state: 1, inode: 3965950, name: "/tmp/sol-unix-capture.sock", peer: 3965949 },
  ]);
});

test("an abstract name is given with @ and keeps its bytes", () => {
  const [s] = parseUnixReply(reply(3965951), false);
  assert.equal(s?.state, 10);
  assert.ok(s?.name?.startsWith("@sol-abstract-capture\u0000"));
  assert.equal(s?.name?.length, 1 + 107);
});

test("a reply whose attribute runs past its message is an error, not a guess", () => {
  const cut = Buffer.from(reply(3965950));
  cut.writeUInt16LE(200, 32); // the first attribute claims more than the message holds
  assert.throws(() => parseUnixReply(cut, false), SockDiagError);
});
