// The protocol bench's per-connection table (bench/protocol.ts protocolTable): each daemon's programs
// per short connection, and what the detection adds beyond --protocol off, in ns and as a share of the
// machine's CPU per connection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type PerConnection, protocolTable } from "../bench/protocol.ts";

const o = { rounds: 1, bulkS: 1, shortN: 1500, perfS: 1 };
const conn = (mode: "off" | "on", programs: [string, number][], machineNsPerConn: number): PerConnection => ({
  mode,
  label: mode === "off" ? "eBPF daemon, --protocol off" : "eBPF daemon, --protocol on (socket hooks)",
  programs: programs.map(([name, nsPerConn]) => ({ name, runsPerConn: 2, nsPerConn })),
  nsPerConn: programs.reduce((t, [, ns]) => t + ns, 0),
  machineNsPerConn,
});

test("each daemon's programs per connection, and the detection's own cost beyond off", () => {
  const md = protocolTable(
    {
      rows: [],
      programs: { programs: [], share: 0 },
      hooks: [],
      perConnection: [
        conn("off", [["on_state_btf", 1400]], 120_000),
        conn(
          "on",
          [
            ["on_state_btf", 1800],
            ["on_send", 500],
            ["on_segment", 300],
          ],
          125_000,
        ),
      ],
    },
    o,
  );
  const rows = md.split("\n").filter((l) => l.startsWith("| eBPF daemon"));
  assert.deepEqual(rows, [
    "| eBPF daemon, --protocol off | 1400 (2.0) | – | – | 1400 | 0 | 120 | 0.00 % |",
    "| eBPF daemon, --protocol on (socket hooks) | 1800 (2.0) | 500 (2.0) | 300 (2.0) | 2600 | 1200 | 125 | 0.96 % |",
  ]);
  assert.match(
    md,
    /\| mode \| on_state_btf, ns \(runs\) \| on_send, ns \(runs\) \| on_segment, ns \(runs\) \|/,
  );
});

test("without an off daemon there is nothing to take away: no figure beyond it", () => {
  const md = protocolTable(
    {
      rows: [],
      programs: { programs: [], share: 0 },
      hooks: [],
      perConnection: [conn("on", [["on_send", 500]], 100_000)],
    },
    o,
  );
  assert.ok(md.includes("| eBPF daemon, --protocol on (socket hooks) | 500 (2.0) | 500 | – | 100 | – |"), md);
});
