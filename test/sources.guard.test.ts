import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceError } from "../src/sources/errors.ts";
import { Guard } from "../src/sources/guard.ts";
import { quietDiag } from "./helpers/fakes.ts";

// A source's guard (src/sources/guard.ts): a fault in one run is counted by code and said at most once
// per period, the next run goes on, and a long streak of failures is a degraded source, said once until
// a run works again.

function guard(degradeAfter = 3) {
  const diag = quietDiag();
  const degraded: string[] = [];
  const g = new Guard({
    diag,
    what: "procfs source",
    degradeAfter,
    onDegraded: (why) => void degraded.push(why),
  });
  return { g, diag, degraded };
}

const boom =
  (code: "ERR_NETLINK" | "ERR_PROBE_EXITED" = "ERR_NETLINK") =>
  () => {
    throw new SourceError(code, "the reply was cut");
  };

test("a run's value comes back; a throw is undefined, counted by code and said once per period", () => {
  const { g, diag } = guard(100);
  assert.equal(
    g.run(() => 7),
    7,
  );
  for (let i = 0; i < 5; i++) assert.equal(g.run(boom()), undefined);
  g.run(boom("ERR_PROBE_EXITED"));
  assert.equal(g.errors.get("ERR_NETLINK"), 5);
  assert.equal(g.errors.get("ERR_PROBE_EXITED"), 1);
  assert.equal(g.total, 6);
  assert.equal(diag.said.filter((m) => m.includes("ERR_NETLINK")).length, 1, "said once, not five times");
  assert.equal(diag.said.filter((m) => m.includes("ERR_PROBE_EXITED")).length, 1);
});

test("failures in a row make the source degraded, once, and again only after a run worked", () => {
  const { g, degraded } = guard(3);
  for (let i = 0; i < 2; i++) g.run(boom());
  assert.equal(degraded.length, 0);
  g.run(boom());
  assert.equal(degraded.length, 1);
  assert.match(degraded[0] as string, /3 runs of the procfs source failed in a row \(last: ERR_NETLINK/);
  for (let i = 0; i < 10; i++) g.run(boom());
  assert.equal(degraded.length, 1, "still the same degradation");
  g.run(() => undefined);
  for (let i = 0; i < 2; i++) g.run(boom());
  assert.equal(degraded.length, 1, "a streak starts again from the run that worked");
  g.run(boom());
  assert.equal(degraded.length, 2);
});

test("an error that is not a SourceError is counted too (as the source's own code)", () => {
  const { g } = guard();
  g.run(() => {
    throw new TypeError("a parser bug");
  });
  assert.equal(g.errors.get("ERR_SOURCE_FAULT"), 1);
});
