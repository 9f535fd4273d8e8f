import assert from "node:assert/strict";
import { test } from "node:test";
import { stderrDiagnostics } from "../src/diagnostics.ts";

// Diagnostics go to stderr only (src/diagnostics.ts), one prefixed line each, a newline inside a
// message flattened (a journal reads one entry per line), and `once` says a thing once.

test("one prefixed line each on stderr; once() says a key only once", () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const d = stderrDiagnostics("sol-test");
    d.info("started");
    d.warn("two\nlines");
    d.once("k", "first");
    d.once("k", "again");
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(written, [
    "sol-test: info: started\n",
    "sol-test: warning: two lines\n",
    "sol-test: warning: first\n",
  ]);
});
