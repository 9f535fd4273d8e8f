import assert from "node:assert/strict";
import { test } from "node:test";
import { UserBuckets } from "../src/user-buckets.ts";

const S = 1_000_000_000n;

test("each user has its own bucket: the burst at once, then the rate", () => {
  const b = new UserBuckets(2, 3);
  const took = (uid: number, at: bigint) => b.take(uid, at);
  assert.deepEqual([took(1, 0n), took(1, 0n), took(1, 0n), took(1, 0n)], [true, true, true, false]);
  assert.equal(took(2, 0n), true, "another user's bucket is full");
  assert.equal(took(1, S / 4n), false, "half a token back after 0.25 s at 2 a second");
  assert.equal(took(1, S / 2n), true, "one after 0.5 s");
});

test("past the bound on users, idle buckets are forgotten and a new user still gets a full one", () => {
  const b = new UserBuckets(1, 1, 2);
  assert.equal(b.take(1, 0n), true);
  assert.equal(b.take(2, 0n), true);
  assert.equal(b.take(3, 10n * S), true, "users 1 and 2 are idle (full again) and forgotten");
  assert.equal(b.take(3, 10n * S), false);
});
