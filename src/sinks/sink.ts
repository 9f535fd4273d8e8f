import { badPathError } from "../errors.ts";
import { FileWriter, StdoutWriter, type Writer } from "./writers.ts";

/** Where formatted lines go. */
export interface Sink {
  /**
   * Takes one complete line. It is written before this returns, or held in order to be written later
   * (the destination failed): it never throws for an I/O fault. `tag` says whose record it is
   * (`user:action`), counted if the line has to be dropped.
   */
  write(line: string, tag?: string): void;
  /** Opens the destination again (after logrotate moved it); no-op for stdout. */
  reopen(): void;
  /** Tries once more to write what is held, then closes. Resolves with the number of lines still held (lost). */
  end(): Promise<number>;
  readonly stats: SinkStats;
}

export interface SinkStats {
  lines: number;
  /** Reopens asked for (SIGHUP). */
  reopens: number;
  /** Reopens because the file was found removed or replaced at its path. */
  reopens_found: number;
  /** Lines waiting now because the destination fails. */
  held: number;
  /** Lines dropped because the queue was full, in all. */
  dropped: number;
  write_errors: number;
  outages: number;
  /** When a line was last written (ms since the epoch; 0: none yet). */
  last_write_ms: number;
}

export function emptySinkStats(): SinkStats {
  return {
    lines: 0,
    reopens: 0,
    reopens_found: 0,
    held: 0,
    dropped: 0,
    write_errors: 0,
    outages: 0,
    last_write_ms: 0,
  };
}

export interface Recovery {
  /** When the first write failed, and when writing worked again (ms since the epoch). */
  sinceMs: number;
  untilMs: number;
  /** Lines held during the outage and written now. */
  held: number;
  /** Lines lost because more than `maxPending` lines or `maxPendingBytes` waited (the newest were dropped). */
  dropped: number;
  /** The dropped lines by tag (`user:action`). */
  droppedBy: Record<string, number>;
  error: string;
}

export interface SinkOptions {
  /** Lines held in memory while the destination fails (default 10,000). */
  maxPending?: number;
  /** Bytes held in memory while the destination fails (default 64 MiB): a line may be 256 KiB. */
  maxPendingBytes?: number;
  /** How often held lines are retried and the file's identity checked (ms, default 1000). */
  retryMs?: number;
  /** Says things on stderr. */
  warn(message: string): void;
  /** Called after an outage, once every held line is written; the caller writes the recovery record. */
  onRecovered?: (r: Recovery) => void;
}

/**
 * Puts lines through a Writer and keeps the trail whole when it fails. A write that fails (disk full,
 * EIO, the directory removed) is held with every line after it, in order, in a bounded queue; once a
 * second they are retried, oldest first. When all are out, `onRecovered` gives the outage window and
 * the counts. A full queue drops the newest lines, counted, keeping the oldest (what happened first is
 * what an auditor cannot get back elsewhere). A file removed or replaced at its path is opened again
 * within a second, and before the next write, without waiting for SIGHUP.
 */
export class HoldingSink implements Sink {
  readonly stats: SinkStats = emptySinkStats();
  private readonly queue: string[] = [];
  private queuedBytes = 0;
  private outage:
    | { sinceMs: number; error: string; dropped: number; held: number; droppedBy: Map<string, number> }
    | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;

  constructor(
    private readonly writer: Writer,
    private readonly opts: SinkOptions,
  ) {
    this.maxPending = opts.maxPending ?? 10_000;
    this.maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_PENDING_BYTES;
    this.timer = setInterval(() => this.tick(), opts.retryMs ?? 1000);
    this.timer.unref();
  }

  write(line: string, tag?: string): void {
    if (this.outage) {
      this.hold(line, tag);
      return;
    }
    if (this.writer.stale()) this.reopenQuietly();
    try {
      this.writer.write(line);
      this.stats.lines++;
      this.stats.last_write_ms = Date.now();
    } catch (error) {
      this.begin(error as NodeJS.ErrnoException);
      this.hold(line, tag);
    }
  }

  reopen(): void {
    this.stats.reopens++;
    if (this.outage) return; // the next retry opens the path anew
    try {
      this.writer.reopen();
    } catch (error) {
      this.begin(error as NodeJS.ErrnoException);
    }
  }

  async end(): Promise<number> {
    clearInterval(this.timer);
    if (this.outage) this.retry();
    this.writer.close();
    const lost = this.queue.length;
    if (lost > 0) {
      this.opts.warn(
        `stopping with ${lost} records not written to ${this.writer.what} (${this.outage?.error}); they are lost`,
      );
    }
    return lost;
  }

  private tick(): void {
    if (this.outage) this.retry();
    else if (this.writer.stale()) this.reopenQuietly();
  }

  private reopenQuietly(): void {
    try {
      this.writer.reopen();
      this.stats.reopens_found++;
    } catch (error) {
      this.begin(error as NodeJS.ErrnoException);
    }
  }

  private begin(error: NodeJS.ErrnoException): void {
    this.stats.write_errors++;
    if (this.outage) return;
    const what = error.code ?? error.message;
    this.outage = { sinceMs: Date.now(), error: what, dropped: 0, held: 0, droppedBy: new Map() };
    this.stats.outages++;
    this.opts.warn(
      `writing to ${this.writer.what} fails (${what}); holding records in memory (up to ${this.maxPending}, ` +
        `${this.maxPendingBytes} bytes) and retrying every second`,
    );
  }

  private hold(line: string, tag = "unknown"): void {
    const o = this.outage as NonNullable<typeof this.outage>;
    // A string's length bounds its UTF-8 size from below and its memory (two bytes a unit) from above.
    const size = line.length;
    if (this.queue.length >= this.maxPending || this.queuedBytes + size > this.maxPendingBytes) {
      o.dropped++;
      this.stats.dropped++;
      if (o.droppedBy.size < DROPPED_TAGS_MAX || o.droppedBy.has(tag)) {
        o.droppedBy.set(tag, (o.droppedBy.get(tag) ?? 0) + 1);
      } else o.droppedBy.set("other", (o.droppedBy.get("other") ?? 0) + 1);
      if (o.dropped === 1) {
        this.opts.warn(
          `${this.queue.length} records (${this.queuedBytes} bytes) held: newer records are now dropped and counted`,
        );
      }
      return;
    }
    this.queue.push(line);
    this.queuedBytes += size;
    o.held++;
    this.stats.held = this.queue.length;
  }

  /** Writes what is held, oldest first, stopping at the first failure. */
  private retry(): void {
    const o = this.outage as NonNullable<typeof this.outage>;
    while (this.queue.length > 0) {
      try {
        if (this.writer.stale()) {
          this.writer.reopen();
          this.stats.reopens_found++;
        }
        this.writer.write(this.queue[0] as string);
      } catch (error) {
        this.stats.write_errors++;
        o.error = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        this.stats.held = this.queue.length;
        return;
      }
      this.queuedBytes -= (this.queue.shift() as string).length;
      this.stats.lines++;
      this.stats.last_write_ms = Date.now();
    }
    this.stats.held = 0;
    this.queuedBytes = 0;
    this.outage = undefined;
    this.opts.warn(
      `writing to ${this.writer.what} works again: ${o.held} held records written` +
        (o.dropped ? `, ${o.dropped} dropped` : ""),
    );
    this.opts.onRecovered?.({
      sinceMs: o.sinceMs,
      untilMs: Date.now(),
      held: o.held,
      dropped: o.dropped,
      droppedBy: Object.fromEntries(o.droppedBy),
      error: o.error,
    });
  }
}

/** What the queue may hold by default: 64 MiB, 256 records of the largest size, thousands of usual ones. */
export const DEFAULT_PENDING_BYTES = 64 * 1024 * 1024;
/** Distinct `user:action` tags counted in one outage; the rest under "other". */
const DROPPED_TAGS_MAX = 64;

export function stdoutSink(opts: SinkOptions): Sink {
  return new HoldingSink(new StdoutWriter(), opts);
}

/**
 * Appends to `path`, creating its directory (0750) and the file (0640: events name users and hosts,
 * not for every local account). Throws with exit code 2 when the path cannot be opened at start, so a
 * wrong --output is reported at once, not at the first connection.
 */
export function fileSink(path: string, opts: SinkOptions, optionName = "--output"): Sink {
  const writer = new FileWriter(path);
  try {
    writer.open();
  } catch (error) {
    throw badPathError(optionName, path, "cannot open it for appending", error);
  }
  return new HoldingSink(writer, opts);
}
