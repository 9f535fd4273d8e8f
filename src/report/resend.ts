/**
 * Closing a hole at the collector: the records of one daemon run with the numbers asked for, found in
 * this host's own files (rotated and gzipped ones included) and appended, each line exactly as it was
 * written, to the spool file the shipper also reads (deploy/rsyslog/sender.conf), so they travel the
 * same way as the first time. A range only partly in the files is refused whole and named: a record is
 * never sent again in part, nor made up.
 */
import { appendFileSync } from "node:fs";
import { InvalidOptionError } from "../errors.ts";
import { readLines } from "./lines.ts";
import { numbered } from "./sequence.ts";

/** `22-23,40` → [[22, 23], [40, 40]]; the option is named in the error. */
export function parseRanges(option: string, value: string): [number, number][] {
  const out: [number, number][] = [];
  for (const part of value.split(",")) {
    const m = /^\s*(\d{1,15})\s*(?:[-–]\s*(\d{1,15})\s*)?$/.exec(part);
    const a = m ? Number(m[1]) : Number.NaN;
    const b = m?.[2] === undefined ? a : Number(m[2]);
    if (!m || a < 1 || b < a) {
      throw new InvalidOptionError(option, value, "record numbers and ranges from 1 up: 22-23,40");
    }
    out.push([a, b]);
  }
  return out;
}

export interface ResendResult {
  /** The run the id or prefix named. */
  run?: string;
  sent: number;
  /** Ranges shipped whole, and ranges refused with the numbers the files do not have. */
  shipped: [number, number][];
  refused: { range: [number, number]; missing: number[] }[];
  /** Other runs the prefix matched: it must name one. */
  ambiguous: string[];
}

/** Records one resend takes at most (they are held in memory until appended): a larger hole is sent in parts. */
export const RESEND_MAX = 200_000;

/**
 * Finds run `run` (its id, or a prefix of at least 8 characters) and the numbers in `ranges` in
 * `files`, and appends the lines of every range found whole to `spool`.
 */
export async function resend(
  files: readonly string[],
  run: string,
  ranges: readonly [number, number][],
  spool: string,
  warn: (m: string) => void,
): Promise<ResendResult> {
  const wanted = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
  if (wanted > RESEND_MAX) {
    throw new InvalidOptionError("--seq", `${wanted} records`, `at most ${RESEND_MAX} records at once`);
  }
  const inRange = (seq: number) => ranges.some(([a, b]) => seq >= a && seq <= b);
  const found = new Map<number, string>();
  const runs = new Set<string>();
  for await (const line of readLines(files, (file, err) => warn(`cannot read ${file}: ${err.message}`))) {
    if (!line.complete) continue;
    const n = numbered(line.text);
    if (!n?.run.startsWith(run)) continue;
    runs.add(n.run);
    // A copy (a file read twice, a record written again) is sent once.
    if (inRange(n.seq) && !found.has(n.seq)) found.set(n.seq, ` ${line.text}`.slice(1));
  }
  const result: ResendResult = { sent: 0, shipped: [], refused: [], ambiguous: [] };
  if (runs.size > 1) {
    result.ambiguous = [...runs];
    return result;
  }
  result.run = [...runs][0];
  const out: string[] = [];
  for (const range of ranges) {
    const missing: number[] = [];
    for (let s = range[0]; s <= range[1]; s++) if (!found.has(s)) missing.push(s);
    if (missing.length > 0) {
      result.refused.push({ range, missing });
      continue;
    }
    for (let s = range[0]; s <= range[1]; s++) out.push(found.get(s) as string);
    result.shipped.push(range);
  }
  if (out.length > 0) {
    // One append of whole lines: the shipper never reads a record in part.
    appendFileSync(spool, `${out.join("\n")}\n`, { mode: 0o640 });
    result.sent = out.length;
  }
  return result;
}
