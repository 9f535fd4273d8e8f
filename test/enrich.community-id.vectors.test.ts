import assert from "node:assert/strict";
import { test } from "node:test";
import { communityId } from "../src/enrich/community-id.ts";

// Baseline vectors from the Community ID specification.
test("TCP vectors of the specification, both directions and seed 1", () => {
  const a = { ip: "1.2.3.4", port: 1122 };
  const b = { ip: "5.6.7.8", port: 3344 };
  assert.equal(communityId(a, b), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  assert.equal(communityId(b, a), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  assert.equal(communityId(a, b, 6, 1), "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
  assert.equal(
    communityId({ ip: "128.232.110.120", port: 34855 }, { ip: "66.35.250.204", port: 80 }),
    "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
  );
  assert.equal(
    communityId(
      { ip: "2001:470:e5bf:dead:4957:2174:e82c:4887", port: 63943 },
      { ip: "2607:f8b0:400c:c03::1a", port: 25 },
    ),
    "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
  );
});

test("a non-address is refused rather than hashed", () => {
  assert.throws(() => communityId({ ip: "host", port: 1 }, { ip: "1.2.3.4", port: 2 }), TypeError);
});
