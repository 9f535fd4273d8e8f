import assert from "node:assert/strict";
import { test } from "node:test";

// The executable (src/cli.ts) runs the program with the process's own argv, on import: here with an
// option no command has, which the program reports on stderr and answers with exit code 2.

test("the executable runs the program with its argv", async () => {
  const argv = process.argv;
  const write = process.stderr.write;
  const out: string[] = [];
  process.argv = [argv[0] as string, "ssh-outbound-logger", "--no-such-option"];
  // The test runner may write on stderr too: only the program's own complaint is taken.
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk === "string" && chunk.includes("--no-such-option")) {
      out.push(chunk);
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    await import("../src/cli.ts");
  } finally {
    process.argv = argv;
    process.stderr.write = write;
  }
  assert.equal(out.length, 1, "the unknown option was reported once");
  assert.match(out[0] as string, /unknown option '--no-such-option'/);
  assert.equal(process.exitCode, 2);
  process.exitCode = 0;
});
