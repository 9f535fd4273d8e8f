import { LoggerError } from "../errors.ts";
import { NAME } from "../version.ts";
import { type GroupBy, Grouper, hostLabel } from "./by.ts";
import { configuredLog, expandDirectories, logFamily, orderLogFiles } from "./files.ts";
import { type Filters, gapMatches, matches, noticeMatches } from "./filters.ts";
import { readLineBatches, readLines } from "./lines.ts";
import {
  csvCell,
  csvHeader,
  csvRow,
  formatBytes,
  gapLine,
  jsonLine,
  noticeLine,
  shortTime,
  tableWriter,
} from "./output.ts";
import { readConnections } from "./path-read.ts";
import { PathJoiner, pathLine } from "./paths.ts";
import { peekOpened, type SkipReason, toRecord } from "./records.ts";
import { holesLine, resendLine, SequenceCheck } from "./sequence.ts";
import { type Gap, hostKey, type Notice, type Session, SessionJoiner } from "./sessions.ts";

export interface ReportOptions {
  files: string[];
  filters: Filters;
  format: "table" | "json" | "csv";
  by?: GroupBy;
  /** Join the connections of many hosts into paths (see paths.ts) instead of listing them. */
  paths?: boolean;
  /** Threads that read the files for --paths (see path-read.ts); 1 by default. */
  threads?: number;
}

export interface ReportIo {
  /** Writes one line of the report; resolves when the consumer can take more. */
  write(line: string): void;
  drain(): Promise<void>;
  warn(message: string): void;
}

export interface ReportSummary {
  files: string[];
  sessions: number;
  gaps: number;
  /** Flood summaries and loss records among them. */
  notices: number;
  skipped: Partial<Record<SkipReason, number>>;
  unreadable: number;
  /** Records the daemon numbered that are not in the files (holes in a run's event.sequence). */
  missing: number;
}

/**
 * Streams the files through the joiner and prints sessions as they end (closed and failed ones in the
 * order of their end, then the open ones), with the monitoring gaps among them.
 */
export async function report(opts: ReportOptions, io: ReportIo): Promise<ReportSummary> {
  const files =
    opts.files.length > 0 ? orderLogFiles(expandDirectories(opts.files)) : logFamily(configuredLog());
  if (files.length === 0) {
    throw new LoggerError(
      "ERR_NO_LOG",
      `no log files at ${configuredLog()} (name files, or set SSH_OUTBOUND_OUTPUT)`,
    );
  }
  const summary: ReportSummary = {
    files,
    sessions: 0,
    gaps: 0,
    notices: 0,
    skipped: {},
    unreadable: 0,
    missing: 0,
  };
  const grouper = opts.by ? new Grouper(opts.by) : undefined;
  if (opts.paths) return reportPaths(files, opts, io, summary);
  const hosts = opts.format === "table" && !opts.by ? await hostsOf(files) : 0;
  const table = tableWriter(io.write, { forwards: opts.filters.forwards === true, hosts: hosts > 1 });
  /** Gaps and notices, printed after the groups (--by) or on stderr (csv). */
  const asides: (Gap | Notice)[] = [];
  const asideLine = (a: Gap | Notice) => (a.type === "gap" ? gapLine(a) : noticeLine(a));
  if (opts.format === "table" && !grouper) table.header();
  if (opts.format === "csv" && !grouper) io.write(csvHeader());

  const emit = (item: Session | Gap | Notice): void => {
    if (item.type !== "session") {
      if (item.type === "gap" ? !gapMatches(item, opts.filters) : !noticeMatches(item, opts.filters)) return;
      if (item.type === "gap") summary.gaps++;
      else summary.notices++;
      if (grouper || opts.format === "csv") asides.push(item);
      else if (opts.format === "json") io.write(jsonLine(item));
      else io.write(`---- ${asideLine(item)}`);
      return;
    }
    if (!matches(item, opts.filters)) return;
    summary.sessions++;
    if (grouper) grouper.add(item);
    else if (opts.format === "json") io.write(jsonLine(item));
    else if (opts.format === "csv") io.write(csvRow(item));
    else table.row(item);
  };
  const skip = (r: SkipReason) => {
    summary.skipped[r] = (summary.skipped[r] ?? 0) + 1;
  };
  const joiner = new SessionJoiner(emit, skip);
  const sequences = new SequenceCheck();
  const take = (text: string, complete: boolean): void => {
    const opened = complete ? peekOpened(text) : undefined;
    let label = (): string => "?";
    if (opened) {
      joiner.openedLine(opened.id, hostKey(opened), opened.time, text);
      label = () => hostLabel(opened);
    } else {
      const r = toRecord(text, complete);
      if (typeof r === "string") skip(r);
      else {
        joiner.push(r);
        label = () => hostLabel(r);
      }
    }
    if (complete) sequences.add(text, label);
  };
  // A chunk's lines at a time (an await per line is a promise per line), the output drained after
  // each chunk.
  for await (const b of readLineBatches(files, (file, err) => {
    summary.unreadable++;
    io.warn(`cannot read ${file}: ${err.message}`);
  })) {
    for (const text of b.lines) take(text, true);
    if (b.partial !== undefined) take(b.partial, false);
    await io.drain();
  }
  joiner.end();

  if (grouper) {
    const groups = grouper.result();
    if (opts.format === "json")
      for (const g of groups) io.write(jsonLine({ type: "group", by: opts.by, ...g }));
    else if (opts.format === "csv") {
      io.write(`${opts.by},sessions,failed,first,last,bytes`);
      for (const g of groups)
        io.write([g.key, g.sessions, g.failed, g.first, g.last, g.bytes].map(csvCell).join(","));
    } else {
      io.write(
        `${(opts.by ?? "").toUpperCase().padEnd(30)} SESSIONS FAILED FIRST                LAST                 BYTES`,
      );
      for (const g of groups) {
        const key = g.key.length > 30 ? `${g.key.slice(0, 29)}…` : g.key.padEnd(30);
        io.write(
          `${key} ${String(g.sessions).padStart(8)} ${String(g.failed).padStart(6)} ${shortTime(g.first)} ${shortTime(g.last)} ${formatBytes(g.bytes)}`,
        );
      }
    }
    if (opts.format !== "csv")
      for (const a of asides) io.write(opts.format === "json" ? jsonLine(a) : `---- ${asideLine(a)}`);
  }
  // CSV stays one table: its gaps and notices go to stderr.
  if (opts.format === "csv") for (const a of asides) io.warn(asideLine(a));
  return finish(sequences, summary, io);
}

/** The holes in the daemon's numbering and the lines skipped, told on stderr. */
async function finish(
  sequences: SequenceCheck,
  summary: ReportSummary,
  io: ReportIo,
): Promise<ReportSummary> {
  const holes = sequences.holes();
  for (const h of holes) summary.missing += h.missing;
  if (holes.length > 0) {
    io.warn(
      `${summary.missing} record(s) the daemon wrote are not in these files (holes in event.sequence): ${holes.map(holesLine).join("; ")}`,
    );
    // Each hole closed by the host that wrote it: the records are in its own files (rotated, .gz).
    for (const h of holes) io.warn(`to send them again, ${resendLine(h, NAME)}`);
  }
  const skipped = Object.entries(summary.skipped);
  if (skipped.length > 0) {
    const total = skipped.reduce((a, [, c]) => a + (c ?? 0), 0);
    io.warn(`skipped ${total} line(s): ${skipped.map(([k, c]) => `${c} ${k}`).join(", ")}`);
  }
  await io.drain();
  return summary;
}

/**
 * `report --paths`: every connection read (by the field scanner, a line it cannot read parsed whole),
 * joined into paths at the end; `summary.sessions` counts the paths printed.
 */
async function reportPaths(
  files: string[],
  opts: ReportOptions,
  io: ReportIo,
  summary: ReportSummary,
): Promise<ReportSummary> {
  const joiner = new PathJoiner();
  const sequences = new SequenceCheck();
  summary.skipped = await readConnections(
    files,
    joiner,
    sequences,
    { threads: opts.threads ?? 1 },
    (file, message) => {
      summary.unreadable++;
      io.warn(`cannot read ${file}: ${message}`);
    },
  );
  for (const p of joiner.paths(opts.filters)) {
    summary.sessions++;
    io.write(opts.format === "json" ? jsonLine(p) : pathLine(p));
    if (summary.sessions % 1024 === 0) await io.drain();
  }
  return finish(sequences, summary, io);
}

/**
 * How many hosts the files hold, told by each file's first record (a daemon's log and a collector's
 * file are each one host's): the table shows a HOST column when there is more than one. Cheap: one
 * line per file.
 */
async function hostsOf(files: readonly string[]): Promise<number> {
  const hosts = new Set<string>();
  for (const file of files) {
    for await (const line of readLines([file], () => undefined)) {
      const r = toRecord(line.text, line.complete);
      if (typeof r !== "string") hosts.add(hostKey(r));
      break;
    }
  }
  return hosts.size;
}
