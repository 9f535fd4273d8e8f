import { ARGV_READ_MAX } from "../enrich/process.ts";

/**
 * How much argv a record carries. The connecting process's argv is the evidence and is kept whole up
 * to 64 KiB; an ancestor's is context and is cut at 1 KiB: a CI runner or a Java agent with a
 * 100 kB command line high in the tree would otherwise make every record of every session that
 * large. Sizes are bytes as in /proc/PID/cmdline: each argument's bytes plus its NUL.
 */
/** What is read of the connecting process's argv is what its record keeps. */
export const PROCESS_ARGV_MAX = ARGV_READ_MAX;
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

export { boundArgs, boundString, byteLength, type Cut, cutString } from "../bytes.ts";
