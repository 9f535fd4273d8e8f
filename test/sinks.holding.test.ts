import assert from "node:assert/strict";
import { test } from "node:test";
import { HoldingSink, type Recovery } from "../src/sinks/sink.ts";
import type { Writer } from "../src/sinks/writers.ts";

/** A destination that fails with `code` while `down` is true, like a full disk. */
function flaky(code = "ENOSPC") {
  const written: string[] = [];
  const w = {
    down: false as boolean,
    written,
    what: "test destination",
    write(line: string) {
      if (w.down) throw Object.assign(new Error(code), { code });
      written.push(line);
    },
    stale: () => false,
    reopen() {},
    close() {},
  } satisfies Writer & { down: boolean; written: string[] };
  return w;
}

test("while the destination fails, lines wait in order; once it works they go out first, then onRecovered", async () => {
  const w = flaky();
  const said: string[] = [];
  const recovered: Recovery[] = [];
  const sink = new HoldingSink(w, {
    warn: (m) => said.push(m),
    retryMs: 60_000,
    onRecovered: (r) => recovered.push(r),
  });
  sink.write("a\n");
  w.down = true;
  for (const l of ["b\n", "c\n", "d\n"]) sink.write(l);
  assert.deepEqual(w.written, ["a\n"]);
  assert.equal(sink.stats.held, 3);
  assert.equal(said.filter((m) => m.includes("fails (ENOSPC)")).length, 1, "said once, not per line");
  w.down = false;
  sink.write("e\n");
  assert.deepEqual(w.written, ["a\n"], "a new line never overtakes the held ones");
  (sink as unknown as { tick(): void }).tick();
  assert.deepEqual(w.written, ["a\n", "b\n", "c\n", "d\n", "e\n"]);
  assert.equal(recovered.length, 1);
  assert.deepEqual([recovered[0]?.held, recovered[0]?.dropped, recovered[0]?.error], [4, 0, "ENOSPC"]);
  assert.equal(await sink.end(), 0);
});

test("a full queue drops the newest lines and counts them, keeping the oldest", async () => {
  const w = flaky("EIO");
  const recovered: Recovery[] = [];
  const sink = new HoldingSink(w, {
    warn: () => undefined,
    retryMs: 60_000,
    maxPending: 3,
    onRecovered: (r) => recovered.push(r),
  });
  w.down = true;
  for (let i = 1; i <= 6; i++) sink.write(`${i}\n`);
  assert.deepEqual([sink.stats.held, sink.stats.dropped], [3, 3]);
  w.down = false;
  (sink as unknown as { tick(): void }).tick();
  assert.deepEqual(w.written, ["1\n", "2\n", "3\n"]);
  assert.deepEqual([recovered[0]?.held, recovered[0]?.dropped], [3, 3]);
  await sink.end();
});

test("stopping while the destination still fails reports the lines it could not write", async () => {
  const w = flaky();
  const said: string[] = [];
  const sink = new HoldingSink(w, { warn: (m) => said.push(m), retryMs: 60_000 });
  w.down = true;
  sink.write("x\n");
  sink.write("y\n");
  assert.equal(await sink.end(), 2);
  assert.match(said.at(-1) ?? "", /2 records not written .* lost/);
});
