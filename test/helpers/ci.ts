import { execFileSync } from "node:child_process";
import type { TestContext } from "node:test";

export const IN_CI = process.env.CI === "true";

// The daemons tests start leave nothing in the kernel: the eBPF probe is pinned (kept after the daemon)
// only where a test asks for it, in a bpffs it mounts and removes itself.
process.env.SSH_OUTBOUND_PIN ??= "none";

/**
 * A test that needs root or a tool skips with the reason when run by hand, and fails in CI, so a
 * green CI run means the test really ran.
 */
export function needs(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (IN_CI) throw new Error(`required in CI: ${reason}`);
  t.skip(reason);
  return false;
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const IS_ROOT = process.getuid?.() === 0;
