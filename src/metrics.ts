// The daemon's own health for Prometheus: a file in the text exposition format, for node_exporter's
// textfile collector (--metrics-file), written by rename so a scrape never reads half of it.
import { replaceFile } from "./fs-safe.ts";
import type { Diagnostics } from "./sources/types.ts";

/** What a metrics file says: the monitor's counters (monitor.stats()) and which source runs. */
export interface MetricsInput {
  stats: Readonly<Record<string, number | undefined>>;
  source: string;
}

const PREFIX = "ssh_outbound_logger";

/** The pipeline's counts, by the action of the records they made. */
const RECORDS: [stat: string, action: string][] = [
  ["opened", "connection-opened"],
  ["closed", "connection-closed"],
  ["failed", "connection-failed"],
  ["unresolved", "connection-unresolved"],
  ["sessions", "ssh-session"],
  ["suppressed_summaries", "connections-suppressed"],
];

/** Where records were lost or left out, by stage. */
const LOST: [stat: string, stage: string][] = [
  ["source_lost_ring_buffer", "ring-buffer"],
  ["source_lost_hand_over", "hand-over"],
  ["records_dropped", "pending-queue"],
  ["flood_suppressed", "suppressed"],
];

/** A label value, escaped as the exposition format wants (backslash, quote, newline). */
const label = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** The exposition text: HELP and TYPE for each family, then its samples. */
export function renderMetrics(m: MetricsInput): string {
  const n = (k: string): number => m.stats[k] ?? 0;
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
    out.push(`# HELP ${PREFIX}_${name} ${help}`, `# TYPE ${PREFIX}_${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${PREFIX}_${name}${labels} ${v}`);
  };
  family(
    "records_total",
    "counter",
    "Records made by this run, by event.action.",
    RECORDS.map(([k, action]) => [`{action="${action}"}`, n(k)]),
  );
  family(
    "lost_total",
    "counter",
    "Events lost by this run, by stage: the kernel's ring buffer and the hand-over from its reader (each said in an events-lost record), records dropped while the output failed (said in output-recovered), connections beyond --user-rate (counted in connections-suppressed records, not written one by one).",
    LOST.map(([k, stage]) => [`{stage="${stage}"}`, n(k)]),
  );
  family("open_connections", "gauge", "Connections open now.", [["", n("open_connections")]]);
  family("records_held", "gauge", "Records waiting in memory while the output cannot be written.", [
    ["", n("records_held")],
  ]);
  family(
    "last_record_timestamp_seconds",
    "gauge",
    "When a record was last written (seconds since the epoch; 0: none yet).",
    [["", n("last_write_ms") / 1000]],
  );
  family("source_info", "gauge", "The source that captures, and how the eBPF probe is attached.", [
    [
      `{source="${label(m.source)}",attach="${m.stats.source_probe_tp_btf === undefined ? "" : n("source_probe_tp_btf") ? "tp_btf" : "tracefs"}"}`,
      1,
    ],
  ]);
  family(
    "probe_pinned",
    "gauge",
    "1 when the eBPF probe is pinned: the kernel keeps capturing while the daemon is down.",
    [["", n("source_probe_pinned")]],
  );
  family(
    "while_down_records_total",
    "counter",
    "Kernel records this run read that came while no daemon read the pinned probe.",
    [["", n("source_while_down")]],
  );
  return `${out.join("\n")}\n`;
}

/**
 * Writes the metrics to `path` by rename (a new file beside it, fsynced, renamed over it, as the state
 * file is): a reader sees the last whole file or the one before. A failure is said once and tried
 * again next time.
 */
export class MetricsFile {
  private failing = false;

  constructor(
    readonly path: string,
    private readonly diag: Diagnostics,
  ) {}

  write(m: MetricsInput): void {
    try {
      replaceFile(this.path, renderMetrics(m));
      if (this.failing) this.diag.info(`the metrics file ${this.path} is written again`);
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        this.diag.warn(`cannot write the metrics file ${this.path}: ${(error as Error).message}`);
      }
      this.failing = true;
    }
  }
}
