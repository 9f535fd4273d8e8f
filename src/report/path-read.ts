/**
 * Reading a collector's files for `report --paths` on every core: the files are cut into one share
 * per thread (path-parts.ts), each read by a worker thread (path-worker.ts) that sends its connections
 * back as it goes; this thread joins them as they come. Joining does not depend on the order records
 * arrive in (a connection's records merge either way), and the daemon's numbering is merged at the
 * end. Small inputs are read here: a worker costs tens of milliseconds to start.
 */
import { Worker } from "node:worker_threads";
import { LoggerError } from "../errors.ts";
import { type FilePart, readLineBatches } from "./lines.ts";
import { fromWire, Names, PathLines, WIRE } from "./path-part.ts";
import { shares } from "./path-parts.ts";
import type { PathJoiner } from "./paths.ts";
import type { SkipReason } from "./records.ts";
import type { Run, SequenceCheck } from "./sequence.ts";

export type WorkerMessage =
  | { type: "conns"; wire: unknown[] }
  | { type: "error"; file: string; message: string }
  | { type: "end"; runs: Map<string, Run>; skipped: Partial<Record<SkipReason, number>> };

export interface ReadOptions {
  threads: number;
  /** Below this many bytes of text the files are read in this thread. */
  minParallelBytes?: number;
}

const MIN_PARALLEL_BYTES = 32 << 20;

/**
 * A worker on path-worker: beside this module, or, in Bun's single binary (where every module's URL
 * is the binary's), embedded under its path from src/ (package.json's build:binary names it).
 */
function startWorker(parts: FilePart[]): Worker {
  const here = import.meta.url;
  const workerData = { parts };
  if (here.includes("/$bunfs/")) return new Worker(new URL("./report/path-worker.js", here), { workerData });
  if (!here.endsWith(".ts")) return new Worker(new URL("./path-worker.js", here), { workerData });
  const source = new URL("./path-worker.ts", here);
  if (process.versions.bun !== undefined) return new Worker(source, { workerData });
  // TypeScript under Node: only with tsx (the tests), whose loader a worker does not inherit.
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(source.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** Reads the files into `joiner` and `sequences`; returns the lines skipped, by reason. */
export async function readConnections(
  files: readonly string[],
  joiner: PathJoiner,
  sequences: SequenceCheck,
  opts: ReadOptions,
  onError: (file: string, message: string) => void,
): Promise<Partial<Record<SkipReason, number>>> {
  const parts = shares(files, opts.threads, opts.minParallelBytes ?? MIN_PARALLEL_BYTES);
  const skipped: Partial<Record<SkipReason, number>> = {};
  const addSkipped = (s: Partial<Record<SkipReason, number>>): void => {
    for (const [k, n] of Object.entries(s) as [SkipReason, number][]) skipped[k] = (skipped[k] ?? 0) + n;
  };
  if (parts.length <= 1) {
    const lines = new PathLines((c) => joiner.add(c));
    for await (const b of readLineBatches(parts[0] ?? [], (file, err) => onError(file, err.message))) {
      for (const text of b.lines) lines.line(text, true);
      if (b.partial !== undefined) lines.line(b.partial, false);
    }
    sequences.merge(lines.sequences.runs);
    addSkipped(lines.skipped);
    return skipped;
  }
  // Each worker's numbering is merged in the files' order, so runs are listed as they were first seen.
  const ends: (Extract<WorkerMessage, { type: "end" }> | undefined)[] = parts.map(() => undefined);
  const names = new Names();
  const workers = parts.map(startWorker);
  const failed = (message: string, cause?: unknown): LoggerError =>
    new LoggerError("ERR_REPORT_WORKER", `report --paths: a reading thread ${message}`, { cause });
  try {
    await Promise.all(
      workers.map(
        (w, i) =>
          new Promise<void>((resolve, reject) => {
            w.on("message", (m: WorkerMessage) => {
              if (m.type === "conns")
                for (let j = 0; j < m.wire.length; j += WIRE) joiner.add(fromWire(m.wire, j, names));
              else if (m.type === "error") onError(m.file, m.message);
              else ends[i] = m;
            });
            w.once("error", (err) => reject(failed(`failed: ${err.message}`, err)));
            w.once("exit", (code) =>
              ends[i] ? resolve() : reject(failed(`exited (${code}) before it was done`)),
            );
          }),
      ),
    );
  } finally {
    // One failed: the others' work is of no use.
    for (const w of workers) void w.terminate();
  }
  for (const e of ends) {
    if (!e) continue;
    sequences.merge(e.runs);
    addSkipped(e.skipped);
  }
  return skipped;
}
