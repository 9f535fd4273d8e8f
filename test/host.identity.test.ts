import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { test } from "node:test";
import { hostIdentity } from "../src/host.ts";

// Who this host is, on every record (src/host.ts): the name hostname(2) gives and the machine id.

test("the host's name, and its machine id as 32 lower-case hex digits when it has one", () => {
  const h = hostIdentity();
  assert.equal(h.hostname, hostname());
  const file = ["/etc/machine-id", "/var/lib/dbus/machine-id"].find((f) => existsSync(f));
  const id = file ? readFileSync(file, "utf8").trim().toLowerCase() : undefined;
  assert.equal(h.id, id && /^[0-9a-f]{32}$/.test(id) ? id : undefined);
  assert.equal(hostIdentity(), h, "read once");
});
