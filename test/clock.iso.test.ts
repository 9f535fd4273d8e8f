import assert from "node:assert/strict";
import { test } from "node:test";
import { isoNs } from "../src/clock.ts";

/** What isoNs must give, made the plain way: the date and time to the second, then all nine digits. */
function expected(ns: bigint): string {
  const second = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  return `${second}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}Z`;
}

test("isoNs: nanoseconds kept, and each second right whatever came before it", () => {
  const base = 1_796_400_000_000_000_000n; // 2026-12-04
  assert.equal(isoNs(base + 5n), "2026-12-04T16:00:00.000000005Z");
  // Times of a record (now, a second later) between starts long past, as the records interleave them;
  // then more distinct seconds than the memo holds, and back to the first ones.
  const times: bigint[] = [];
  for (let i = 0n; i < 600n; i++) {
    times.push(base + i * 1_000_000_007n, base - 86_400_000_000_000n * (i % 7n) + i, base + 999_999_999n);
  }
  times.push(base, base - 1n, 0n, 951_782_400_123_456_789n); // across a second, the epoch, a leap day
  for (const ns of times) assert.equal(isoNs(ns), expected(ns), String(ns));
  assert.equal(isoNs(951_782_400_123_456_789n), "2000-02-29T00:00:00.123456789Z");
});
