import assert from "node:assert/strict";
import { test } from "node:test";
import { floodPolicy } from "../src/config.ts";
import { formatJson } from "../src/format/json.ts";
import type { LogRecord } from "../src/format/record.ts";
import { Pipeline } from "../src/pipeline.ts";
import type { SocketFacts, SourceName } from "../src/sources/types.ts";
import { MemorySink, quietDiag } from "./helpers/fakes.ts";

// The pipeline's wiring (src/pipeline.ts): observations become records through the tracker, the flood
// gate and the enricher; lines made before open() wait; the source's name is asked at each record; a
// fault in one record is counted and the next goes on; what the kernel counted joins a summary.

const S = 1_000_000_000n;
const sock = (key: string, uid = 1000): SocketFacts => ({
  key,
  inode: Number(key.slice(4)),
  family: "ipv4",
  local: { ip: "127.0.0.1", port: 40000 },
  remote: { ip: "127.0.0.1", port: 22 },
  state: "ESTABLISHED",
  uid,
});

function pipeline(opts: { format?: (r: LogRecord) => string; rate?: number } = {}) {
  const sink = new MemorySink();
  const diag = quietDiag();
  const source = { name: "ebpf" as SourceName };
  const p = new Pipeline({
    format: opts.format ?? ((r) => formatJson(r, { hostname: "test" })),
    sink,
    diag,
    sourceName: () => source.name,
    flood: floodPolicy(opts.rate ?? 0),
  });
  return { p, sink, diag, source, actions: () => sink.records().map((r) => r.event.action) };
}

test("a connection seen open and then closed is two records, with the source named at each", () => {
  const { p, sink, source, actions } = pipeline();
  p.open();
  p.observe({ type: "existing", timeNs: 1n * S, sockets: [sock("ino:7")] });
  source.name = "procfs";
  p.observe({ type: "close", timeNs: 2n * S, key: "ino:7", oldState: "ESTABLISHED" });
  assert.deepEqual(actions(), ["connection-opened", "connection-closed"]);
  const [opened, closed] = sink.records();
  assert.equal(opened.ssh_outbound.connection_id, closed.ssh_outbound.connection_id);
  assert.deepEqual([opened.ssh_outbound.source, closed.ssh_outbound.source], ["ebpf", "procfs"]);
  assert.deepEqual(p.openNow, { connections: 0, sessions: 0 });
  assert.equal(p.counts.opened, 1);
});

test("records made before open() wait for it; open() writes them first", () => {
  const { p, sink, actions } = pipeline();
  p.observe({ type: "existing", timeNs: 1n * S, sockets: [sock("ino:7")] });
  assert.equal(sink.lines.length, 0);
  assert.equal(p.changed, true, "the set of open connections changed: the state file is due");
  p.open();
  assert.deepEqual(actions(), ["connection-opened"]);
  assert.equal(p.openConnections()[0]?.key, "ino:7");
  assert.equal(p.changed, false);
});

test("a record that cannot be formatted is counted and said; the next one is written", () => {
  let first = true;
  const { p, sink, diag } = pipeline({
    format: (r) => {
      if (first) {
        first = false;
        throw new Error("a formatter bug");
      }
      return formatJson(r, { hostname: "test" });
    },
  });
  p.open();
  p.observe({ type: "existing", timeNs: 1n * S, sockets: [sock("ino:7"), sock("ino:8")] });
  assert.equal(p.counts.pipeline_errors, 1);
  assert.equal(sink.lines.length, 1);
  assert.ok(diag.said.some((m) => m.includes("a formatter bug")));
});

test("connects the kernel counted go to the flood gate's summary for their user, not to the tracker", () => {
  const { p, sink } = pipeline({ rate: 20 });
  p.open();
  p.observe({
    type: "attempts",
    timeNs: 3n * S,
    uid: 65534,
    count: 500,
    unlisted: 0,
    lastNs: 3n * S,
    destinations: [
      {
        remote: { ip: "127.0.0.1", port: 22 },
        count: 500,
        firstNs: 1n * S,
        lastNs: 3n * S,
        pid: 77,
        comm: "python3",
      },
    ],
  });
  assert.deepEqual(p.openNow, { connections: 0, sessions: 0 });
  p.stopSessions(4n * S);
  const [s] = sink.records();
  assert.equal(s.event.action, "connections-suppressed");
  assert.equal(s.ssh_outbound.suppressed.count, 500);
  assert.equal(s.user.id, "65534");
  assert.equal(p.flood.suppressed, 500);
});
