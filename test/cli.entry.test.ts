import assert from "node:assert/strict";
import { test } from "node:test";
import { VERSION } from "../src/version.ts";

// The executable (src/cli.ts) runs the program with the process's own argv, on import: here with
// `--version`, which prints the version and leaves the exit code 0.

test("the executable runs the program with its argv", async () => {
  const argv = process.argv;
  const write = process.stdout.write;
  const out: string[] = [];
  process.argv = [argv[0] as string, "ssh-outbound-logger", "--version"];
  // The test runner talks to its parent on stdout too: only the program's own line is taken.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (chunk === `${VERSION}\n`) {
      out.push(chunk);
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    await import("../src/cli.ts");
  } finally {
    process.argv = argv;
    process.stdout.write = write;
  }
  assert.deepEqual(out, [`${VERSION}\n`], "--version printed the version once");
  assert.equal(process.exitCode ?? 0, 0);
});
