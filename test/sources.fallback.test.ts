import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceError } from "../src/sources/errors.ts";
import { FallbackSource } from "../src/sources/fallback.ts";
import type { Observation } from "../src/sources/types.ts";
import { FakeSource, quietDiag } from "./helpers/fakes.ts";

const snapshot = (n: number): Observation => ({
  type: "snapshot",
  timeNs: BigInt(n),
  sockets: [],
  initial: false,
});

function events() {
  const seen: { emitted: Observation[]; degraded: string[]; failed: Error[] } = {
    emitted: [],
    degraded: [],
    failed: [],
  };
  return {
    seen,
    events: {
      emit: (o: Observation) => void seen.emitted.push(o),
      degraded: (r: string) => void seen.degraded.push(r),
      failed: (e: Error) => void seen.failed.push(e),
    },
  };
}

test("a primary that cannot start hands over before anything runs, saying why with its code", async () => {
  const primary = new FakeSource("ebpf", { failStart: new SourceError("ERR_PROBE_ATTACH", "no attach") });
  const fallback = new FakeSource("procfs");
  const s = new FallbackSource(primary, () => fallback, quietDiag());
  const { seen, events: ev } = events();
  await s.start(ev);
  assert.equal(s.name, "procfs");
  assert.match(s.reason, /^procfs, since ebpf failed to start \(ERR_PROBE_ATTACH\): no attach/);
  assert.deepEqual([primary.stopped, fallback.started], [1, 1]);
  assert.deepEqual(seen.degraded, [], "nothing degraded: the run starts with the fallback");
});

test("a primary that fails while running is replaced, the trail told once, its late events dropped", async () => {
  const primary = new FakeSource("ebpf");
  const fallback = new FakeSource("procfs");
  const s = new FallbackSource(primary, () => fallback, quietDiag());
  const { seen, events: ev } = events();
  await s.start(ev);
  primary.events?.emit(snapshot(1));
  primary.events?.failed(new SourceError("ERR_PROBE_EXITED", "exited 5 times"));
  await new Promise((r) => setImmediate(r));
  assert.equal(s.name, "procfs");
  assert.deepEqual(seen.degraded, ["procfs, since ebpf stopped: exited 5 times"]);
  primary.events?.emit(snapshot(2));
  fallback.events?.emit(snapshot(3));
  assert.deepEqual(
    seen.emitted.map((o) => o.timeNs),
    [1n, 3n],
    "the old source's late events are not mixed in",
  );
  await s.stop();
  assert.deepEqual([primary.stopped, fallback.stopped], [1, 1]);
});

test("the fallback's own failure is passed on: nothing is left to take over", async () => {
  const fallback = new FakeSource("procfs");
  const s = new FallbackSource(
    new FakeSource("ebpf", { failStart: new Error("x") }),
    () => fallback,
    quietDiag(),
  );
  const { seen, events: ev } = events();
  await s.start(ev);
  fallback.events?.failed(new Error("procfs gone"));
  assert.deepEqual(
    seen.failed.map((e) => e.message),
    ["procfs gone"],
  );
});
