import { escapedByte } from "../bytes.ts";

/**
 * How much argv a record carries. The connecting process's argv is the evidence and is kept whole up
 * to 64 KiB; an ancestor's is context and is cut at 1 KiB: a CI runner or a Java agent with a
 * 100 kB command line high in the tree would otherwise make every record of every session that
 * large. Sizes are bytes as in /proc/PID/cmdline: each argument's bytes plus its NUL.
 */
export const PROCESS_ARGV_MAX = 64 * 1024;
export const ANCESTOR_ARGV_MAX = 1024;
/** The remote command is also in the argv; its own copy in the target is cut at this size. */
export const TARGET_COMMAND_MAX = 1024;

/** How much of each part a record keeps. */
export interface Bounds {
  /** Bytes of the connecting process's argv, and of each ancestor's. */
  process: number;
  ancestor: number;
  /** Bytes of each string of the typed target (the remote command, a host, a forward). */
  text: number;
  /** Entries kept of the ancestry (the nearest to the process) and of each list of the target. */
  entries: number;
}

/**
 * The largest record the daemon writes, newline included. A shipper's message size (rsyslog's
 * maxMessageSize, a collector's frame limit) set to this never cuts one of ours.
 */
export const RECORD_MAX = 256 * 1024;

/**
 * The bounds tried in turn until the record fits RECORD_MAX. Almost every record fits the first; a
 * later one is needed only when escaping inflates an argv (a control byte takes 6 characters in JSON,
 * a byte that is not UTF-8 is U+FFFD plus base64 in raw_bytes) or the ancestry is very deep. The last
 * one fits whatever the input: 8 ancestors and 512 bytes of argv, each at most 6-fold.
 */
export const BOUNDS: readonly Bounds[] = [
  { process: PROCESS_ARGV_MAX, ancestor: ANCESTOR_ARGV_MAX, text: TARGET_COMMAND_MAX, entries: 64 },
  { process: 8 * 1024, ancestor: 256, text: 256, entries: 32 },
  { process: 512, ancestor: 64, text: 64, entries: 8 },
];

/** What was there before a cut: the reader sees that, and by how much, the field was shortened. */
export interface Cut {
  /** The size of the whole argv (or string), in bytes. */
  bytes: number;
  /** The bytes kept. */
  kept: number;
}

/** Bytes of `s` in UTF-8, a carried raw byte (see bytes.ts) counting as the one byte it stands for. */
export function byteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair is one 4-byte code point.
      n += 4;
      i++;
    } else if (escapedByte(c) !== undefined) n += 1;
    else n += 3;
  }
  return n;
}

/** The longest prefix of `s` of at most `max` bytes, never splitting a character. */
export function cutString(s: string, max: number): string {
  if (s.length <= max / 4 || byteLength(s) <= max) return s;
  let n = 0;
  let i = 0;
  for (const ch of s) {
    const b = byteLength(ch);
    if (n + b > max) break;
    n += b;
    i += ch.length;
  }
  return s.slice(0, i);
}

/** A string kept whole up to `max` bytes, else cut with what the whole was. */
export function boundString(s: string, max: number): { value: string; cut?: Cut } {
  const bytes = byteLength(s);
  if (bytes <= max) return { value: s };
  const value = cutString(s, max);
  return { value, cut: { bytes, kept: byteLength(value) } };
}

/**
 * The arguments that fit in `max` bytes (each with its NUL), the one at the edge cut to fit. Nothing
 * is reordered or invented: the kept arguments are a prefix of the argv, the last perhaps shortened.
 */
export function boundArgs(args: readonly string[], max: number): { args: string[]; cut?: Cut } {
  const sizes = args.map((a) => byteLength(a) + 1);
  const bytes = sizes.reduce((a, b) => a + b, 0);
  if (bytes <= max) return { args: [...args] };
  const kept: string[] = [];
  let used = 0;
  for (const [i, a] of args.entries()) {
    const size = sizes[i] as number;
    if (used + size <= max) {
      kept.push(a);
      used += size;
      continue;
    }
    if (max - used > 1) {
      const part = cutString(a, max - used - 1);
      kept.push(part);
      used += byteLength(part) + 1;
    }
    break;
  }
  return { args: kept, cut: { bytes, kept: used } };
}
