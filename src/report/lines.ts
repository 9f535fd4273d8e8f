import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

export interface Line {
  text: string;
  file: string;
  /** false for a last line with no newline: the writer may have been cut off. */
  complete: boolean;
}

/**
 * A file, or the part of a plain file whose lines begin in [start, end): a reader of one part reads
 * each line that begins there to its end, so parts that meet read every line once.
 */
export interface FilePart {
  file: string;
  start?: number;
  end?: number;
}

/** The complete lines of one chunk of a file, and whether the file's cut-off last line ends it. */
export interface LineBatch {
  file: string;
  lines: string[];
  /** A last line with no newline (the writer may have been cut off), after `lines`. */
  partial?: string;
}

/**
 * Read in chunks larger than the streams' 64 KiB (each costs a promise whatever its size) but small
 * enough that a chunk's lines die young: lines that outlive two scavenges while their chunk is worked
 * through are copied to the old generation, and a report over 1 M records spent seconds collecting
 * them there (measured with 1 MiB chunks).
 */
const CHUNK = 256 << 10;

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * The lines of each file in turn, gzip by its magic bytes, streamed a chunk at a time: memory does not
 * grow with the file. A gzip file cut short (a rotation copied half-way) ends its lines with an error
 * on stderr through `onError`, not a crash.
 */
export async function* readLineBatches(
  files: readonly (string | FilePart)[],
  onError: (file: string, err: Error) => void,
): AsyncGenerator<LineBatch> {
  for (const f of files) {
    const {
      file,
      start: from = 0,
      end: to = Number.POSITIVE_INFINITY,
    } = typeof f === "string" ? { file: f } : f;
    let stream: Readable;
    let gz = false;
    try {
      // Opened first by isGzip: a file that is missing or unreadable fails here, not in a stream.
      gz = await isGzip(file);
      // A part after the first starts a byte early: its first line begins after the first newline
      // from there (a line that begins exactly at `from` follows the newline just before it).
      const raw = createReadStream(file, { highWaterMark: CHUNK, start: gz ? 0 : Math.max(0, from - 1) });
      if (gz) {
        const gunzip = createGunzip({ chunkSize: CHUNK });
        raw.on("error", (err) => gunzip.destroy(err));
        stream = raw.pipe(gunzip);
      } else stream = raw;
    } catch (err) {
      onError(file, err as Error);
      continue;
    }
    // Lines are cut from the bytes and decoded one by one: faster than decoding a chunk and
    // splitting the text (an ASCII line decodes by a fast path), and each line is a string of its own
    // rather than a slice that keeps its whole chunk alive. A line across chunks waits in `pending`.
    let pending: Buffer[] = [];
    /** The file offset of the chunk being read, and whether the part's first line is still ahead. */
    let offset = gz ? 0 : Math.max(0, from - 1);
    let skipping = !gz && from > 0;
    let done = false;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const lines: string[] = [];
        let start = 0;
        let nl = chunk.indexOf(10);
        if (skipping) {
          if (nl < 0) {
            offset += chunk.length;
            continue;
          }
          skipping = false;
          start = nl + 1;
          nl = chunk.indexOf(10, start);
        } else if (nl >= 0 && pending.length > 0) {
          pending.push(chunk.subarray(0, nl));
          lines.push(Buffer.concat(pending).toString("utf8"));
          pending = [];
          start = nl + 1;
          nl = chunk.indexOf(10, start);
        }
        // Lines that begin before the part's end; the one that begins after it is the next part's.
        while (nl >= 0 && offset + start < to) {
          lines.push(chunk.toString("utf8", start, nl));
          start = nl + 1;
          nl = chunk.indexOf(10, start);
        }
        if (offset + start >= to) done = true;
        else if (start < chunk.length) pending.push(chunk.subarray(start));
        offset += chunk.length;
        if (lines.length > 0) yield { file, lines };
        if (done) break;
      }
    } catch (err) {
      onError(file, err as Error);
    } finally {
      stream.destroy();
    }
    if (pending.length > 0 && !done)
      yield { file, lines: [], partial: Buffer.concat(pending).toString("utf8") };
  }
}

/** readLineBatches() a line at a time, for readers that are not in a hurry. */
export async function* readLines(
  files: readonly string[],
  onError: (file: string, err: Error) => void,
): AsyncGenerator<Line> {
  for await (const b of readLineBatches(files, onError)) {
    for (const text of b.lines) yield { text, file: b.file, complete: true };
    if (b.partial !== undefined) yield { text: b.partial, file: b.file, complete: false };
  }
}
