import { endpoint } from "../format/endpoint.ts";
import { escapeText } from "../format/escape.ts";
import type { Gap, Notice, Session } from "./sessions.ts";

export type Writer = (line: string) => void;

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "";
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`;
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return "?";
  const units = ["B", "K", "M", "G", "T"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}B` : `${v.toFixed(v < 10 ? 1 : 0)}${units[u]}`;
}

/** `2026-11-25 13:29:09Z`: seconds are enough to read; --json keeps the nanoseconds. */
export function shortTime(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : "";
}

function durationCell(s: Session): string {
  if (s.status === "open" || s.status === "unknown") return s.status;
  return formatDuration(s.durationMs);
}

function bytesCell(s: Session): string {
  if (s.sent === undefined && s.received === undefined) return "";
  return `${formatBytes(s.sent)}/${formatBytes(s.received)}`;
}

interface Column {
  title: string;
  width: number;
  cell: (s: Session) => string;
}

const COLUMNS: Column[] = [
  { title: "START", width: 20, cell: (s) => shortTime(s.start) },
  { title: "DURATION", width: 9, cell: durationCell },
  { title: "STATUS", width: 7, cell: (s) => s.status },
  { title: "USER", width: 10, cell: (s) => s.user ?? "" },
  { title: "PROCESS", width: 16, cell: (s) => (s.process ? `${s.process}[${s.pid ?? "?"}]` : "") },
  { title: "TARGET", width: 30, cell: (s) => s.target ?? "" },
  {
    title: "DESTINATION",
    width: 22,
    cell: (s) => (s.destIp ? endpoint(s.destIp, s.destPort) : s.via ? `via ${s.via.slice(0, 18)}` : ""),
  },
  { title: "SENT/RECV", width: 11, cell: bytesCell },
  { title: "MUX", width: 3, cell: (s) => (s.muxSessions ? String(s.muxSessions) : "") },
  { title: "ANCESTRY", width: 0, cell: (s) => s.ancestry },
];

/** Escaped (a hostile host name cannot drive the terminal), cut to width with an ellipsis. */
function fit(value: string, width: number): string {
  const v = escapeText(value);
  if (width === 0) return v;
  return v.length > width ? `${v.slice(0, width - 1)}…` : v.padEnd(width);
}

const HOST: Column = { title: "HOST", width: 16, cell: (s) => s.host };

const FORWARDS: Column = {
  title: "FORWARDS",
  width: 30,
  cell: (s) => [s.forwards, s.agent ? "agent" : undefined].filter(Boolean).join(" "),
};

/**
 * The aligned table: fixed column widths, so rows stream out as sessions end. With `forwards`, a
 * FORWARDS column (tunnels and agent forwarding) comes before ANCESTRY; with `hosts`, HOST first.
 */
export function tableWriter(
  write: Writer,
  opts: { forwards?: boolean; hosts?: boolean } = {},
): { header(): void; row(s: Session): void; line(s: Session): string } {
  const columns = [
    ...(opts.hosts ? [HOST] : []),
    ...(opts.forwards ? [...COLUMNS.slice(0, -1), FORWARDS, ...COLUMNS.slice(-1)] : COLUMNS),
  ];
  const line = (s: Session): string =>
    columns
      .map((c) => fit(c.cell(s), c.width))
      .join(" ")
      .trimEnd();
  return {
    header: () =>
      write(
        columns
          .map((c) => fit(c.title, c.width))
          .join(" ")
          .trimEnd(),
      ),
    row: (s) => write(line(s)),
    line,
  };
}

export function gapLine(g: Gap): string {
  return `not watching ${escapeText(g.host)}: ${shortTime(g.from)} → ${g.to ? shortTime(g.to) : "end of log"}${
    g.to ? ` (${formatDuration(Date.parse(g.to) - Date.parse(g.from))})` : ""
  }, ${escapeText(g.reason)}`;
}

export function noticeLine(n: Notice): string {
  const when = `${shortTime(n.from)} → ${shortTime(n.to)}`;
  if (n.type === "lost") {
    return `lost ${n.count} events on ${escapeText(n.host)} (${escapeText(n.stage ?? "?")}): ${when}; their connections were checked against the kernel's tables`;
  }
  return `suppressed on ${escapeText(n.host)}: ${escapeText(n.user ?? "?")} made ${n.count} connections beyond its rate (${n.failed ?? 0} failed) to ${n.destinations ?? 0} destinations: ${when}`;
}

export function jsonLine(item: Session | Gap | Notice | object): string {
  return JSON.stringify(item);
}

const CSV_FIELDS: (keyof Session)[] = [
  "id",
  "host",
  "hostId",
  "status",
  "start",
  "end",
  "durationMs",
  "user",
  "pid",
  "process",
  "target",
  "destIp",
  "destPort",
  "sent",
  "received",
  "ancestry",
  "commandLine",
  "observed",
  "via",
  "muxSessions",
  "forwards",
  "agent",
];

/**
 * RFC 4180 fields. A text cell starting with = + - @ (or tab/CR) gets a leading ' so that a
 * spreadsheet shows it instead of evaluating it: command lines come from whoever ran the command.
 */
export function csvCell(v: unknown): string {
  if (v === undefined || v === null) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvHeader(): string {
  return CSV_FIELDS.join(",");
}

export function csvRow(s: Session): string {
  return CSV_FIELDS.map((f) => csvCell(s[f])).join(",");
}
