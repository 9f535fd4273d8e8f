import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { readLineBatches, readLines } from "../src/report/lines.ts";
import { scratchDir } from "./helpers/scratch.ts";

// The lines of a trail's files (src/report/lines.ts): plain or gzipped (by their magic bytes, whatever
// the name), in turn; a last line without its newline is marked incomplete; a gzip file cut short and a
// missing file are said, and the other files still read.

async function all(files: string[]) {
  const errors: string[] = [];
  const lines = [];
  for await (const l of readLines(files, (f, e) => void errors.push(`${f}: ${e.message}`))) lines.push(l);
  return { lines, errors };
}

test("plain and gzipped files in turn; a last line without a newline is incomplete", async () => {
  const dir = scratchDir("sol-lines-");
  const a = join(dir, "log.log.1");
  const b = join(dir, "log.log");
  writeFileSync(a, gzipSync("one\ntwo\n"));
  writeFileSync(b, "three\nfour");
  const { lines, errors } = await all([a, b]);
  assert.deepEqual(
    lines.map((l) => [l.text, l.file === a ? "a" : "b", l.complete]),
    [
      ["one", "a", true],
      ["two", "a", true],
      ["three", "b", true],
      ["four", "b", false],
    ],
  );
  assert.deepEqual(errors, []);
});

test("a gzip file cut short and a missing file are said; the next file is still read", async () => {
  const dir = scratchDir("sol-lines-");
  const cut = join(dir, "cut.gz");
  const whole = gzipSync(`${"x".repeat(100)}\n`.repeat(1000));
  writeFileSync(cut, whole.subarray(0, whole.length / 2));
  const last = join(dir, "last.log");
  writeFileSync(last, "end\n");
  const { lines, errors } = await all([cut, join(dir, "missing.log"), last]);
  assert.equal(errors.length, 2);
  assert.equal(lines.at(-1)?.text, "end");
});

test("parts of a plain file that meet read every line once, wherever they are cut", async () => {
  const dir = scratchDir("sol-lines-");
  const file = join(dir, "log.log");
  // Lines of several lengths, one with multi-byte characters, one longer than the reader's chunk
  // (256 KiB), and a last line with no newline.
  const text = ["a", "", "naïve 🙂 line", "b".repeat(300_000), "c".repeat(17), "tail"];
  const bytes = Buffer.from(text.join("\n"));
  writeFileSync(file, bytes);
  const whole = [];
  for await (const l of readLines([file], () => undefined)) whole.push([l.text, l.complete]);
  assert.deepEqual(
    whole,
    text.map((t, i) => [t, i < text.length - 1]),
  );
  // Cut at every place around each line's edges (and a few inside the long line).
  const edges = new Set<number>([0, 1, 150_000, bytes.length - 1, bytes.length]);
  let at = 0;
  for (const t of text) {
    for (const d of [-1, 0, 1, 2]) edges.add(Math.min(bytes.length, Math.max(0, at + d)));
    at += Buffer.byteLength(t) + 1;
  }
  for (const cut of edges) {
    const got = [];
    for await (const b of readLineBatches(
      [
        { file, start: 0, end: cut },
        { file, start: cut },
      ],
      () => undefined,
    )) {
      for (const l of b.lines) got.push([l, true]);
      if (b.partial !== undefined) got.push([b.partial, false]);
    }
    assert.deepEqual(got, whole, `cut at byte ${cut}`);
  }
});
