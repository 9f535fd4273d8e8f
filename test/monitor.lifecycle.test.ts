import assert from "node:assert/strict";
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Config, resolveConfig } from "../src/config.ts";
import { formatJson } from "../src/format/json.ts";
import { Monitor } from "../src/monitor.ts";
import { SourceError } from "../src/sources/errors.ts";
import type { SocketFacts } from "../src/sources/types.ts";
import { StateStore } from "../src/track/state.ts";
import { FakeSource, MemorySink, quietDiag } from "./helpers/fakes.ts";
import { scratchDir } from "./helpers/scratch.ts";

const sock = (key: string, port = 40000): SocketFacts => ({
  key,
  inode: Number(key.slice(4)),
  family: "ipv4",
  local: { ip: "127.0.0.1", port },
  remote: { ip: "127.0.0.1", port: 22 },
  state: "ESTABLISHED",
});

function monitor(opts: { config?: Partial<Config>; source?: FakeSource; state?: StateStore } = {}) {
  const config = { ...resolveConfig({}, {}, false), statsIntervalS: 0, ...opts.config };
  const source = opts.source ?? new FakeSource("procfs");
  const sink = new MemorySink();
  const fatal: string[] = [];
  const m = new Monitor({
    config,
    source,
    format: (r) => formatJson(r, { hostname: "test" }),
    sink: () => sink,
    diag: quietDiag(),
    state: opts.state,
    onFatal: (why) => void fatal.push(why),
  });
  return { m, sink, source, fatal, actions: () => sink.records().map((r) => r.event.action) };
}

test("monitor-started is the first record, though the source reported sockets while it started", async () => {
  const source = new FakeSource("procfs", {
    duringStart: [{ type: "snapshot", timeNs: 1n, sockets: [sock("ino:7")], initial: true }],
  });
  const { m, actions } = monitor({ source });
  await m.start();
  assert.deepEqual(actions(), ["monitor-started", "connection-opened"]);
  await m.stop("test");
  assert.deepEqual(actions(), ["monitor-started", "connection-opened", "monitor-stopped"]);
});

test("the pid file is written by rename and removed at stop; the sink is ended", async () => {
  const dir = scratchDir("sol-mon-");
  const pidFile = join(dir, "pid");
  const { m, sink } = monitor({ config: { pidFile } });
  await m.start();
  assert.equal(readFileSync(pidFile, "utf8"), `${process.pid}\n`);
  await m.stop();
  assert.throws(() => lstatSync(pidFile));
  assert.equal(sink.ended, true);
});

test("a degraded source and a failed one are written as monitor-degraded; a failure ends the run", async () => {
  const { m, source, fatal, sink } = monitor();
  await m.start();
  source.events?.degraded("20 ticks failed");
  source.events?.failed(new SourceError("ERR_PROBE_EXITED", "gone"));
  const degraded = sink.records().filter((r) => r.event.action === "monitor-degraded");
  assert.deepEqual(
    degraded.map((r) => r.ssh_outbound.monitor.reason),
    ["20 ticks failed", "the source stopped: gone"],
  );
  assert.deepEqual(fatal, ["the source stopped: gone"]);
  await m.stop();
});

test("with a state file: a connection open at stop continues at the next start, one gone is closed-while-down", async () => {
  const dir = scratchDir("sol-mon-");
  const state = new StateStore(join(dir, "state.json"), () => undefined);
  const first = monitor({ state });
  await first.m.start();
  first.source.events?.emit({
    type: "snapshot",
    timeNs: 2n,
    sockets: [sock("ino:7"), sock("ino:8", 40001)],
    initial: false,
  });
  await first.m.stop();
  const [opened7] = first.sink.records().filter((r) => r.ssh_outbound.inode === 7);
  const source = new FakeSource("procfs", {
    duringStart: [{ type: "snapshot", timeNs: 5n, sockets: [sock("ino:7")], initial: true }],
  });
  const second = monitor({ state: new StateStore(join(dir, "state.json"), () => undefined), source });
  await second.m.start();
  const recs = second.sink.records();
  assert.deepEqual(
    recs.map((r) => [r.event.action, r.ssh_outbound.inode, r.ssh_outbound.observed]),
    [
      ["monitor-started", undefined, undefined],
      ["connection-closed", 8, "closed-while-down"],
    ],
  );
  assert.deepEqual(recs[0].ssh_outbound.monitor.continuity, {
    state_file: join(dir, "state.json"),
    resumed: 1,
    closed_while_down: 1,
  });
  assert.equal(recs[1].event.outcome, "unknown");
  source.events?.emit({ type: "snapshot", timeNs: 9n, sockets: [], initial: false });
  const close7 = second.sink.records().at(-1);
  assert.equal(
    close7.ssh_outbound.connection_id,
    opened7.ssh_outbound.connection_id,
    "same id across the restart",
  );
  await second.m.stop();
});

test("a state file that is not ours is set aside and said, and the run starts without it", async () => {
  const dir = scratchDir("sol-mon-");
  const path = join(dir, "state.json");
  const { writeFileSync, readdirSync } = await import("node:fs");
  writeFileSync(path, "{ not json");
  const said: string[] = [];
  const { m, actions } = monitor({ state: new StateStore(path, (s) => void said.push(s)) });
  await m.start();
  assert.deepEqual(actions(), ["monitor-started"]);
  assert.match(said.join("\n"), /is not a state file we can read .* moved to /);
  assert.ok(readdirSync(dir).some((f) => f.startsWith("state.json.corrupt-")));
  await m.stop();
});
