import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NODE_EXPORTER_TEXTFILE_DIR, validateMetricsFile } from "../src/config.ts";
import { MetricsFile, renderMetrics } from "../src/metrics.ts";

const STATS = {
  opened: 7,
  closed: 5,
  failed: 2,
  sessions: 1,
  suppressed_summaries: 3,
  open_connections: 2,
  records_held: 0,
  records_dropped: 4,
  flood_suppressed: 900,
  source_lost_ring_buffer: 11,
  source_lost_hand_over: 0,
  source_while_down: 53,
  source_probe_pinned: 1,
  source_probe_tp_btf: 1,
  last_write_ms: 1_780_000_000_123,
};

/** Samples as name{labels} → value, and the families that have HELP and TYPE. */
function parse(text: string): { samples: Map<string, number>; typed: Set<string> } {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    const type = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (type) typed.add(type[1] as string);
    if (line.startsWith("#")) continue;
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return { samples, typed };
}

test("the metrics text: every family typed, each count where the issue names it", () => {
  const { samples, typed } = parse(renderMetrics({ stats: STATS, source: "ebpf" }));
  for (const name of samples.keys()) assert.ok(typed.has(name.replace(/\{.*/, "")), `${name} has a TYPE`);
  const want: [string, number][] = [
    ['ssh_outbound_logger_records_total{action="connection-opened"}', 7],
    ['ssh_outbound_logger_records_total{action="connection-closed"}', 5],
    ['ssh_outbound_logger_records_total{action="connection-failed"}', 2],
    ['ssh_outbound_logger_records_total{action="connection-unresolved"}', 0],
    ['ssh_outbound_logger_records_total{action="ssh-session"}', 1],
    ['ssh_outbound_logger_records_total{action="connections-suppressed"}', 3],
    ['ssh_outbound_logger_lost_total{stage="ring-buffer"}', 11],
    ['ssh_outbound_logger_lost_total{stage="hand-over"}', 0],
    ['ssh_outbound_logger_lost_total{stage="pending-queue"}', 4],
    ['ssh_outbound_logger_lost_total{stage="suppressed"}', 900],
    ["ssh_outbound_logger_open_connections", 2],
    ["ssh_outbound_logger_last_record_timestamp_seconds", 1_780_000_000.123],
    ['ssh_outbound_logger_source_info{source="ebpf",attach="tp_btf"}', 1],
    ["ssh_outbound_logger_probe_pinned", 1],
    ["ssh_outbound_logger_while_down_records_total", 53],
  ];
  for (const [name, v] of want) assert.equal(samples.get(name), v, name);
});

test("procfs: no probe, so no attach label and not pinned", () => {
  const { samples } = parse(renderMetrics({ stats: { opened: 1 }, source: "procfs" }));
  assert.equal(samples.get('ssh_outbound_logger_source_info{source="procfs",attach=""}'), 1);
  assert.equal(samples.get("ssh_outbound_logger_probe_pinned"), 0);
});

test("the file is replaced whole, and a directory that cannot be written is said once", () => {
  const dir = mkdtempSync(join(tmpdir(), "sol-metrics-"));
  try {
    const warned: string[] = [];
    const diag = { info: () => undefined, warn: (m: string) => warned.push(m), once: () => undefined };
    const path = join(dir, "x.prom");
    const f = new MetricsFile(path, diag);
    f.write({ stats: STATS, source: "ebpf" });
    f.write({ stats: { ...STATS, opened: 8 }, source: "ebpf" });
    assert.match(readFileSync(path, "utf8"), /connection-opened"\} 8\n/);
    assert.deepEqual(readdirSync(dir), ["x.prom"], "no temporary file left beside it");
    const bad = new MetricsFile(join(dir, "missing", "x.prom"), diag);
    bad.write({ stats: STATS, source: "ebpf" });
    bad.write({ stats: STATS, source: "ebpf" });
    assert.equal(warned.length, 1, warned.join("\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--metrics-file: a .prom path, none, or auto (node_exporter's directory when it exists)", () => {
  const p = (value: string) => ({ value, name: "--metrics-file" });
  assert.equal(
    validateMetricsFile(p("/run/x.prom"), () => false),
    "/run/x.prom",
  );
  assert.equal(
    validateMetricsFile(p("none"), () => true),
    undefined,
  );
  assert.equal(
    validateMetricsFile(p("auto"), () => false),
    undefined,
  );
  assert.equal(
    validateMetricsFile(p("auto"), (d) => d === NODE_EXPORTER_TEXTFILE_DIR),
    `${NODE_EXPORTER_TEXTFILE_DIR}/ssh-outbound-logger.prom`,
  );
  assert.throws(() => validateMetricsFile(p("/run/x.txt"), () => true), /--metrics-file "\/run\/x.txt"/);
});
