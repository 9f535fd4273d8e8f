/**
 * A worker thread of `report --paths` (see path-read.ts): reads its share of the files and sends the
 * connections back in batches as it goes, then the numbering it saw and the lines it skipped.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type FilePart, readLineBatches } from "./lines.ts";
import { PathLines, toWire, WIRE } from "./path-part.ts";
import type { WorkerMessage } from "./path-read.ts";
import { ended, type PathConn } from "./paths.ts";

/**
 * Connections per message: a small batch is sent before its strings outlive the young generation
 * (4,096 per message cost seconds of garbage collection over 1 M records; 256, measured, did not).
 */
const BATCH = 256;
const port = parentPort;
if (port) {
  const send = (m: WorkerMessage): void => port.postMessage(m);
  let batch: unknown[] = [];
  const flush = (): void => {
    send({ type: "conns", wire: batch });
    batch = [];
  };
  const out = (c: PathConn): void => {
    toWire(c, batch);
    if (batch.length >= BATCH * WIRE) flush();
  };
  // A connection's opening waits here for its end, to be sent as one: half the connections to send.
  const held = new Map<string, PathConn>();
  const lines = new PathLines((c) => {
    const opening = held.get(c.id);
    if (c.action === "opened") {
      if (opening === undefined) held.set(c.id, c);
      return;
    }
    if (opening !== undefined) held.delete(c.id);
    out(opening ? ended(opening, c) : c);
  }, false);
  const parts = (workerData as { parts: FilePart[] }).parts;
  for await (const b of readLineBatches(parts, (file, err) =>
    send({ type: "error", file, message: err.message }),
  )) {
    for (const text of b.lines) lines.line(text, true);
    if (b.partial !== undefined) lines.line(b.partial, false);
  }
  for (const c of held.values()) out(c);
  flush();
  send({ type: "end", runs: lines.sequences.runs, skipped: lines.skipped });
}
