import assert from "node:assert/strict";
import { test } from "node:test";
import type { AncestorRecord, EnrichedEvent, ProcessRecord } from "../src/enrich/enricher.ts";
import { formatJson } from "../src/format/json.ts";
import { enrichedConnection, S, T0 } from "./helpers/enriched.ts";

// The enricher hands every connection below a process the same ancestor, parent and leader objects,
// and the ECS formatter makes their fields once (ecs.ts, sharedFields). These records must read as if
// each were formatted from objects of its own: the same fields, the raw bytes under each record's paths.

const ctx = { hostname: "bastion" };

const ancestor = (pid: number, name: string, args: string[]): AncestorRecord => ({
  pid,
  name,
  args,
  user: "alice",
  startNs: T0 - 60n * S,
});

const shell: ProcessRecord = {
  pid: 910,
  name: "bash",
  args: ["-bash"],
  startNs: T0 - 60n * S,
  uid: 1000,
  user: "alice",
  euid: 1000,
  euser: "alice",
};

/** What the record would be from copies: nothing formatted before can be reused for them. */
const fresh = (r: EnrichedEvent): unknown => JSON.parse(formatJson(structuredClone(r), ctx));
const line = (r: EnrichedEvent): Record<string, unknown> => JSON.parse(formatJson(r, ctx));

test("records sharing their ancestors, parent and leaders read as records formatted from their own copies", () => {
  const init = ancestor(1, "systemd", ["/sbin/init"]);
  // A name that is not UTF-8: its exact byte goes under the ancestor's index in each record.
  const odd = ancestor(700, "tmux\udcff", ["tmux", "new\udcfe"]);
  const sshd = ancestor(800, "sshd", ["sshd: alice [priv]"]);
  const bashAnc = ancestor(910, "bash", ["-bash"]);
  const origin = {
    parent: shell,
    sessionLeader: shell,
    login: {
      uid: 1000,
      user: "alice",
      entry: "sshd" as const,
      leader: shell,
      source: { ip: "192.0.2.7", port: 1 },
    },
  };
  const first = enrichedConnection("a", "opened", { ancestry: [init, odd, bashAnc], ...origin });
  const second = enrichedConnection("b", "closed", {
    ancestry: [init, sshd, odd, bashAnc],
    ...origin,
  });
  const third = enrichedConnection("c", "opened", { ancestry: [odd, init], ...origin });
  for (const r of [first, second, third, second]) assert.deepEqual(line(r), fresh(r));

  const raw = (r: EnrichedEvent) =>
    (line(r).ssh_outbound as { raw_bytes?: Record<string, string> }).raw_bytes;
  assert.deepEqual(Object.keys(raw(second) ?? {}).sort(), [
    "ssh_outbound.ancestry.2.args.1",
    "ssh_outbound.ancestry.2.name",
  ]);
  assert.deepEqual(Object.keys(raw(third) ?? {}).sort(), [
    "ssh_outbound.ancestry.0.args.1",
    "ssh_outbound.ancestry.0.name",
  ]);
  // The login's leader is the session leader too: only the entry leader says how the login began.
  const p = line(first).process as Record<string, Record<string, unknown>>;
  assert.deepEqual(p.entry_leader?.entry_meta, { type: "sshd", source: { ip: "192.0.2.7" } });
  assert.equal(p.session_leader?.entry_meta, undefined);
  assert.equal(p.parent?.entry_meta, undefined);
});

test("a record made under tighter bounds does not reuse the fields made under the first", () => {
  // Sixty ancestors whose argv is control bytes, six characters each in JSON: with 1 KiB of each the
  // record would be 360 KiB, so it is made again with 256 bytes of each; the same ancestors in a small
  // record keep their 1 KiB.
  const big = Array.from({ length: 60 }, (_, i) =>
    ancestor(100 + i, "runner", ["runner", "\u0001".repeat(6000)]),
  );
  const huge = enrichedConnection("big", "opened", { ancestry: big });
  const small = enrichedConnection("small", "opened", { ancestry: big.slice(0, 2) });
  const cutOf = (r: EnrichedEvent) =>
    ((line(r).ssh_outbound as { ancestry: { args: string[] }[] }).ancestry[0]?.args[1] ?? "").length;
  assert.equal(cutOf(small), cutOf({ ...small, ancestry: structuredClone(small.ancestry) }));
  assert.ok(cutOf(huge) < cutOf(small), `${cutOf(huge)} < ${cutOf(small)}`);
  assert.deepEqual(line(small), fresh(small));
  assert.deepEqual(line(huge), fresh(huge));
});
