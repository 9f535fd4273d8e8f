import assert from "node:assert/strict";
import { test } from "node:test";
import { csvCell, formatBytes, formatDuration, shortTime } from "../src/report/output.ts";

// How report writes its cells (src/report/output.ts): durations and byte counts read at a glance,
// times to the second, and CSV cells that a spreadsheet shows rather than evaluates.

test("durations and byte counts", () => {
  assert.deepEqual(
    [
      formatDuration(5.25),
      formatDuration(950),
      formatDuration(12_300),
      formatDuration(185_000),
      formatDuration(7_500_000),
    ],
    ["5.3ms", "950ms", "12.3s", "3m05s", "2h05m"],
  );
  assert.equal(formatDuration(undefined), "");
  assert.deepEqual(
    [formatBytes(512), formatBytes(2048), formatBytes(50 * 1024 * 1024), formatBytes(undefined)],
    ["512B", "2.0K", "50M", "?"],
  );
  assert.equal(shortTime("2026-11-25T13:29:09.123456789Z"), "2026-11-25 13:29:09Z");
});

test("CSV: quoted when needed, and a cell that a spreadsheet would run as a formula is defused", () => {
  assert.equal(csvCell('a,"b"'), '"a,""b"""');
  assert.equal(csvCell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
  assert.equal(csvCell("-o ProxyCommand=x"), "'-o ProxyCommand=x");
  assert.equal(csvCell(42), "42");
  assert.equal(csvCell(undefined), "");
});
