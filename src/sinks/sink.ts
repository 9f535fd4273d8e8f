import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import sonicBoom, { type SonicBoomOpts, type SonicBoom as SonicBoomType } from "sonic-boom";
import { LoggerError } from "../errors.ts";

// sonic-boom is CommonJS: Node's ESM loader exposes only its default export, which carries the class.
const SonicBoom = (sonicBoom as unknown as { SonicBoom: new (o: SonicBoomOpts) => SonicBoomType }).SonicBoom;

/** Where formatted lines go. */
export interface Sink {
  /** Writes one complete line; on return it has reached the kernel (synchronous writes). */
  write(line: string): void;
  /** Opens the path again (after logrotate moved it); no-op for stdout. */
  reopen(): void;
  /** Writes whatever is buffered and closes. */
  end(): Promise<void>;
  readonly stats: { lines: number; bytes: number; reopens: number };
}

export interface SinkOptions {
  /** Called once when a write fails for good (disk full, EIO, EPIPE): the caller decides to stop. */
  onFatal(error: LoggerError): void;
}

/**
 * One sink for both destinations, on sonic-boom: `sync: true` so an accepted line is written before
 * the next event is handled; no `maxLength` (sonic-boom drops data past it); errors escalate instead
 * of vanishing (pino's buildSafeSonicBoom habit); `end()` rather than `destroy()` so nothing buffered
 * is lost at exit.
 */
class BoomSink implements Sink {
  readonly stats = { lines: 0, bytes: 0, reopens: 0 };
  private failed = false;

  constructor(
    private readonly boom: SonicBoomType,
    private readonly what: string,
    private readonly opts: SinkOptions,
    private readonly reopenable: boolean,
  ) {
    boom.on("error", (error: NodeJS.ErrnoException) => this.fail(error));
  }

  write(line: string): void {
    if (this.failed) throw new LoggerError("ERR_SINK_FAILED", `${this.what} is no longer writable`);
    this.boom.write(line);
    if (!this.failed) {
      this.stats.lines++;
      this.stats.bytes += Buffer.byteLength(line);
    }
  }

  reopen(): void {
    if (!this.reopenable || this.failed) return;
    this.stats.reopens++;
    this.boom.reopen();
  }

  end(): Promise<void> {
    return new Promise((resolve) => {
      if (this.failed) return resolve();
      this.boom.once("close", () => resolve());
      this.boom.once("error", () => resolve());
      try {
        this.boom.flushSync();
      } catch {
        // reported through 'error'
      }
      this.boom.end();
    });
  }

  private fail(error: NodeJS.ErrnoException): void {
    if (this.failed) return;
    this.failed = true;
    this.opts.onFatal(
      new LoggerError(
        "ERR_SINK_WRITE",
        `writing events to ${this.what} failed (${error.code ?? error.message}); ` +
          `${this.stats.lines} events were written before, the event being written and any after it are lost`,
        { cause: error },
      ),
    );
  }
}

export function stdoutSink(opts: SinkOptions): Sink {
  return new BoomSink(new SonicBoom({ fd: 1, sync: true }), "standard output", opts, false);
}

/**
 * Appends to `path`, creating its directory and the file with mode 0640 (events name users and hosts:
 * not for every local account). Throws with exit code 2 when the path cannot be opened, so a wrong
 * --output is reported at start, not at the first connection.
 */
export function fileSink(path: string, opts: SinkOptions, optionName = "--output"): Sink {
  let boom: SonicBoomType;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    boom = new SonicBoom({ dest: path, sync: true, append: true, mkdir: true, mode: 0o640 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new LoggerError(
      "ERR_INVALID_OPTION",
      `invalid ${optionName} ${JSON.stringify(path)}: cannot open it for appending (${code})`,
      {
        exitCode: 2,
        cause: error,
      },
    );
  }
  return new BoomSink(boom, path, opts, true);
}
