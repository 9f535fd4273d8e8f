import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

// Each test file runs in a process of its own: its scratch directories go when it exits, so a run of
// the suite does not leave hundreds of megabytes of logs behind. KEEP_TEST_FILES=1 keeps them to read.
process.on("exit", () => {
  if (process.env.KEEP_TEST_FILES === "1") return;
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a mount still busy under it (the disk-full test's tmpfs is unmounted lazily): left for the OS
    }
  }
});

/** A new directory under the system's temp directory, removed when this test file's process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
