import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { EnrichedEvent } from "../src/enrich/enricher.ts";
import { bracketed, endpoint, unbracketed } from "../src/format/endpoint.ts";
import { formatJson } from "../src/format/json.ts";
import { formatText } from "../src/format/text.ts";
import { runCli } from "./helpers/daemon.ts";
import { enrichedConnection } from "./helpers/enriched.ts";
import { assertValidEvent } from "./helpers/schema.ts";
import { scratchDir } from "./helpers/scratch.ts";

// One rendering of an endpoint (issue 20): an IPv6 address is bracketed before its port in the text
// format, the report's table, `--by target` and what `--target` matches; an IPv4 one is not.

test("an endpoint: IPv4 as ip:port, IPv6 bracketed; a host without a port as it is", () => {
  assert.equal(endpoint("192.0.2.1", 22), "192.0.2.1:22");
  assert.equal(endpoint("2001:db8::1", 22), "[2001:db8::1]:22");
  assert.equal(endpoint("2001:db8::1", undefined), "[2001:db8::1]");
  assert.equal(bracketed("db1.example.com"), "db1.example.com");
  assert.equal(bracketed("[::1]"), "[::1]");
  assert.equal(unbracketed("[::1]"), "::1");
  assert.equal(unbracketed("::1"), "::1");
});

const ctx = { hostname: "web1", hostId: "0123456789abcdef0123456789abcdef" };

/** A closed connection to [2001:db8::1]:22, its typed target an address or none. */
const closed = (id: string, typedHost: string | undefined): EnrichedEvent =>
  enrichedConnection(id, "closed", {
    process: { pid: 4242, name: "ssh", args: ["ssh", typedHost ?? "x"], uid: 1000, user: "alice" },
    ...(typedHost === undefined ? {} : { target: { client: "ssh", host: typedHost, jump: [] } }),
  });

test("an IPv6 connection: [addr]:port in text, the report table, --by target, and --target matches it", () => {
  const text = formatText(closed("0190a0a0-0000-7000-8000-000000000001", "2001:db8::1"));
  assert.match(text, / dst=\[2001:db8::1\]:22 /);
  assert.match(text, / src=\[2001:db8::2\]:40000 /);

  const run = { id: "0190a0a0-0000-7000-8000-00000000000f", written: 0 };
  const typed = JSON.parse(
    formatJson(closed("0190a0a0-0000-7000-8000-000000000001", "2001:db8::1"), ctx, run),
  );
  const bare = JSON.parse(formatJson(closed("0190a0a0-0000-7000-8000-000000000002", undefined), ctx, run));
  for (const o of [typed, bare]) assertValidEvent(o);
  const file = join(scratchDir("sol-endpoint-"), "trail.log");
  writeFileSync(file, `${JSON.stringify(typed)}\n${JSON.stringify(bare)}\n`);

  const table = runCli(["report", file]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /\[2001:db8::1\]:22/);
  assert.doesNotMatch(table.stdout, /[^[]2001:db8::1:22/);

  const by = runCli(["report", file, "--by", "target"]);
  assert.equal(by.code, 0, by.stderr);
  assert.match(by.stdout, /\[2001:db8::1\]:22/);

  for (const target of ["[2001:db8::1]:22", "2001:db8::1", "[2001:db8::1]"]) {
    const r = runCli(["report", file, "--target", target, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const ids = r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).id)
      .sort();
    assert.deepEqual(ids, [typed.ssh_outbound.connection_id, bare.ssh_outbound.connection_id].sort(), target);
  }
});
