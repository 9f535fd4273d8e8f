import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { stdoutLines } from "../src/cli/stdout-lines.ts";

// Lines to a stream in 64 KiB writes, waiting for the reader when it is full
// (src/cli/stdout-lines.ts): a report piped into a slow reader does not pile up in memory.

test("lines go out in batches of at least 64 KiB, the rest at drain, each ended by a newline", async () => {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => void chunks.push(c.toString()));
  const out = stdoutLines(stream);
  const line = "x".repeat(999);
  for (let i = 0; i < 100; i++) out.write(line);
  assert.equal(chunks.join("").length, 66 * 1000, "one write once 64 KiB gathered");
  await out.drain();
  assert.equal(chunks.join(""), `${line}\n`.repeat(100));
});

test("drain waits for a reader that has not taken what was written", async () => {
  const stream = new PassThrough({ highWaterMark: 1024 });
  const out = stdoutLines(stream);
  for (let i = 0; i < 100; i++) out.write("y".repeat(999));
  let drained = false;
  const d = out.drain().then(() => {
    drained = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false, "nothing read yet");
  stream.resume();
  await d;
  assert.equal(drained, true);
});
