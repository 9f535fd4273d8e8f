import assert from "node:assert/strict";
import { test } from "node:test";
import { forwardsList, typedTarget } from "../src/format/target.ts";

// The typed target and its tunnels as one string each (src/format/target.ts): the text format, report
// and list all show them this way.

test("user@host:port, an IPv6 host bracketed, no port when none was typed", () => {
  assert.equal(typedTarget({ user: "alice", host: "db1", port: 2222 }), "alice@db1:2222");
  assert.equal(typedTarget({ host: "2001:db8::1", port: 22 }), "[2001:db8::1]:22");
  assert.equal(typedTarget({ host: "db1" }), "db1");
  assert.equal(typedTarget({}), "?");
});

test("forwards: local, remote, dynamic, then -W, each marked", () => {
  assert.deepEqual(
    forwardsList({ local: ["8080:db:80"], remote: ["2222:localhost:22"], dynamic: ["1080"] }, "db:22"),
    ["L:8080:db:80", "R:2222:localhost:22", "D:1080", "W:db:22"],
  );
  assert.deepEqual(forwardsList(undefined, undefined), []);
});
