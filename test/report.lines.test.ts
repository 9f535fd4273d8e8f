import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { readLines } from "../src/report/lines.ts";
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
