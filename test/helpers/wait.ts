/**
 * Polls `check` until it returns something truthy, or fails after `timeoutMs` with `what` (and what
 * `detail` says of the state then, when given).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false,
  timeoutMs = 10_000,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) {
      const said = detail ? ` (${detail()})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${said}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
