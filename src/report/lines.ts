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
 * The lines of each file in turn, gzip by its magic bytes, streamed: memory does not grow with the
 * file. A gzip file cut short (a rotation copied half-way) ends its lines with an error on stderr
 * through `onError`, not a crash.
 */
export async function* readLines(
  files: readonly string[],
  onError: (file: string, err: Error) => void,
): AsyncGenerator<Line> {
  for (const file of files) {
    let stream: Readable;
    try {
      // Opened first by isGzip: a file that is missing or unreadable fails here, not in a stream.
      const gz = await isGzip(file);
      const raw = createReadStream(file);
      if (gz) {
        const gunzip = createGunzip();
        raw.on("error", (err) => gunzip.destroy(err));
        stream = raw.pipe(gunzip);
      } else stream = raw;
    } catch (err) {
      onError(file, err as Error);
      continue;
    }
    let partial = "";
    stream.setEncoding("utf8");
    try {
      for await (const chunk of stream as AsyncIterable<string>) {
        partial += chunk;
        let start = 0;
        let nl = partial.indexOf("\n", start);
        while (nl >= 0) {
          yield { text: partial.slice(start, nl), file, complete: true };
          start = nl + 1;
          nl = partial.indexOf("\n", start);
        }
        partial = partial.slice(start);
      }
    } catch (err) {
      onError(file, err as Error);
    }
    if (partial !== "") yield { text: partial, file, complete: false };
  }
}
