import { execFileSync } from "node:child_process";
import type { TestContext } from "node:test";

export const IN_CI = process.env.CI === "true";

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
