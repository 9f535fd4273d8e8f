import assert from "node:assert/strict";
import { test } from "node:test";
import { Enricher } from "../src/enrich/enricher.ts";
import { formatJson } from "../src/format/json.ts";
import type { ConnectionEvent } from "../src/track/tracker.ts";
import { assertValidEvent } from "./helpers/schema.ts";

test("with no process found (attribution none), the record keeps the socket's uid as its user", () => {
  const e = new Enricher();
  const base: ConnectionEvent = {
    id: "0190a0a0-0000-7000-8000-000000000001",
    source: "procfs",
    action: "attempted",
    timeNs: 1_780_000_000_000_000_000n,
    startNs: 1_780_000_000_000_000_000n,
    observed: "live",
    socket: {
      key: "ino:1",
      family: "ipv4",
      remote: { ip: "192.0.2.1", port: 22 },
      state: "SYN_SENT",
      uid: 65534,
    },
  };
  assert.equal(e.enrich(base), undefined, "an attempt writes nothing");
  const opened = e.enrich({
    ...base,
    action: "opened",
    socket: { ...base.socket, local: { ip: "192.0.2.9", port: 40000 }, state: "ESTABLISHED" },
  });
  assert.equal(opened?.attribution, "none");
  assert.deepEqual(opened?.socketUser, { uid: 65534, name: "nobody" });
  const o = JSON.parse(formatJson(opened as NonNullable<typeof opened>, { hostname: "h" }));
  assertValidEvent(o);
  assert.deepEqual(o.user, { id: "65534", name: "nobody" });
  assert.equal(o.process, undefined);
});
