import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { test } from "node:test";
import type { EnrichedSession, Origin, ProcessRecord } from "../src/enrich/enricher.ts";
import { ECS_VERSION } from "../src/format/ecs.ts";
import { formatJson } from "../src/format/json.ts";
import type { MonitorEvent } from "../src/format/record.ts";
import { formatText } from "../src/format/text.ts";
import { enrichedConnection, S, T0 } from "./helpers/enriched.ts";
import { assertValidEvent } from "./helpers/schema.ts";

// Every field a record writes outside our own `ssh_outbound` namespace must be an ECS field of the
// version the records name, with a value of that field's type. The list is ECS's own: every field's
// flat name and type as elastic/ecs's generated/ecs/ecs_flat.yml gives them at that version's tag.

const FIELDS = new Map(
  readFileSync(new URL(`./fixtures/ecs-${ECS_VERSION}-fields.txt`, import.meta.url), "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(" ") as [string, string]),
);

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Whether `v` is a value ECS's type `type` takes (one value; arrays are checked element by element). */
function fits(type: string, v: unknown): boolean {
  switch (type) {
    case "keyword":
    case "constant_keyword":
    case "wildcard":
    case "match_only_text":
      return typeof v === "string";
    case "long":
      return Number.isInteger(v);
    case "float":
    case "scaled_float":
      return typeof v === "number";
    case "date":
      return typeof v === "string" && ISO.test(v);
    case "ip":
      return typeof v === "string" && isIP(v) !== 0;
    case "boolean":
      return typeof v === "boolean";
    default:
      return false;
  }
}

/** Each leaf outside ssh_outbound that is not an ECS field, or not of its type. */
function offEcs(o: Record<string, unknown>, prefix = ""): string[] {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const name = prefix + k;
    if (name === "ssh_outbound") continue;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      bad.push(...offEcs(v as Record<string, unknown>, `${name}.`));
      continue;
    }
    const type = FIELDS.get(name);
    if (type === undefined) bad.push(`${name}: not an ECS ${ECS_VERSION} field`);
    else if (!(Array.isArray(v) ? v : [v]).every((x) => fits(type, x))) {
      bad.push(`${name}: ${JSON.stringify(v)} is not ECS ${type}`);
    }
  }
  return bad;
}

const person = (pid: number, name: string, uid: number, args: string[]): ProcessRecord => ({
  pid,
  name,
  args,
  executable: `/usr/bin/${name}`,
  startNs: T0 - 60n * S,
  uid,
  user: uid === 0 ? "root" : "alice",
  euid: uid,
  euser: uid === 0 ? "root" : "alice",
});

/** Every fact a record can carry about who is behind it. */
const origin: Origin = {
  login: {
    uid: 1000,
    user: "alice",
    session: 17,
    entry: "sshd",
    program: { pid: 900, name: "sshd" },
    leader: person(910, "bash", 1000, ["-bash"]),
    source: { ip: "192.0.2.7", port: 50522 },
    destination: { ip: "192.0.2.1", port: 22 },
    communityId: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
  },
  userChanges: [{ pid: 4242, from: "alice", to: "root", via: "sudo" }],
  place: {
    unit: "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
    container: { id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", runtime: "docker" },
  },
  sessionLeader: person(910, "bash", 1000, ["-bash"]),
};
const ctx = { hostname: "bastion", hostId: "0123456789abcdef0123456789abcdef" };

test("a connection record with its login, changes of user and container: every non-ssh_outbound field is ECS, of its type", () => {
  const ev = enrichedConnection("0190a0a0-0000-7000-8000-000000000001", "closed", {
    ...origin,
    process: person(4242, "ssh", 0, ["ssh", "db1"]),
    parent: person(4241, "sudo", 1000, ["sudo", "ssh", "db1"]),
    communityId: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
    bytesSent: 10,
    bytesReceived: 20,
  });
  const o = JSON.parse(formatJson(ev, ctx));
  assertValidEvent(o);
  assert.deepEqual(offEcs(o), []);
  assert.equal(o.process.entry_leader.entry_meta.type, "sshd");
  assert.equal(o.process.entry_leader.entry_meta.source.ip, "192.0.2.7");
  assert.equal(o.process.entry_leader.name, "bash");
  assert.equal(o.process.session_leader.pid, 910);
  assert.deepEqual(o.container, { id: origin.place?.container?.id, runtime: "docker" });
  assert.deepEqual(o.ssh_outbound.login, {
    user: { id: "1000", name: "alice" },
    session_id: 17,
    entry: "sshd",
    program: { pid: 900, name: "sshd" },
    source: { ip: "192.0.2.7", port: 50522 },
    destination: { ip: "192.0.2.1", port: 22 },
    community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
  });
  assert.deepEqual(o.ssh_outbound.user_changes, [{ pid: 4242, from: "alice", to: "root", via: "sudo" }]);
  const line = formatText(ev);
  assert.match(
    line,
    / user=root login=alice entry=sshd from=192\.0\.2\.7:50522 ses=17 su=alice>root\(sudo\) /,
  );
  assert.match(line, / container=0123456789ab /);
});

test("an ssh-session record and a monitor record: ECS outside ssh_outbound too", () => {
  const session = {
    id: "0190a0a0-0000-7000-8000-000000000002",
    source: "ebpf",
    action: "session-ended",
    timeNs: T0 + 9n * S,
    startNs: T0 + 2n * S,
    endNs: T0 + 9n * S,
    viaConnectionId: "0190a0a0-0000-7000-8000-000000000001",
    session: { key: "4242:1", owner: { pid: 4243, comm: "ssh" }, masterPid: 400, masterSockets: [] },
    process: person(4243, "ssh", 1000, ["ssh", "db1"]),
    ancestry: [],
    attribution: "complete",
    ...origin,
  } as EnrichedSession;
  const s = JSON.parse(formatJson(session, ctx));
  assertValidEvent(s);
  assert.deepEqual(offEcs(s), []);
  const started: MonitorEvent = {
    action: "monitor-started",
    timeNs: T0,
    version: "0.1.0",
    pid: 1,
    source: "ebpf",
    reason: "test",
    ports: [22],
    clients: ["ssh"],
    intervalMs: 1000,
  };
  const m = JSON.parse(formatJson(started, ctx));
  assertValidEvent(m);
  assert.deepEqual(offEcs(m), []);
});

test("the check itself: a field ECS does not have, or a value of the wrong type, is named", () => {
  assert.deepEqual(offEcs({ process: { loginuid: 1 }, user: { id: 1000 }, ssh_outbound: { x: 1 } }), [
    `process.loginuid: not an ECS ${ECS_VERSION} field`,
    "user.id: 1000 is not ECS keyword",
  ]);
});
