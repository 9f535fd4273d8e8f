import { asSourceError, type SourceError, type SourceErrorCode } from "./errors.ts";
import type { Diagnostics } from "./types.ts";

export interface GuardOptions {
  diag: Diagnostics;
  /** What the source is called in messages. */
  what: string;
  /** Failing runs in a row after which the source counts as degraded (default 20). */
  degradeAfter?: number;
  /** Called once when that many runs in a row failed, and again only after a run succeeded. */
  onDegraded(reason: string): void;
  /** How often one kind of error is said on stderr (ms, default 60,000). */
  sayEveryMs?: number;
}

/** A warning said at most once per `everyMs` for each key; the ones in between are left unsaid. */
export function sayAtMostEvery(diag: Diagnostics, everyMs: number): (key: string, message: string) => void {
  const lastSaid = new Map<string, number>();
  return (key, message) => {
    const now = Date.now();
    const last = lastSaid.get(key);
    if (last !== undefined && now - last < everyMs) return;
    lastSaid.set(key, now);
    diag.warn(message);
  };
}

/**
 * Runs a source's ticks and callbacks so that no fault in one stops the source: the error is counted
 * by code, said on stderr at most once a minute per code, and the next tick runs as usual. Many
 * failures in a row are a degraded source, which the trail should say (monitor-degraded).
 */
export class Guard {
  readonly errors = new Map<SourceErrorCode, number>();
  private inARow = 0;
  private degradedNow = false;
  private readonly say: (key: string, message: string) => void;

  constructor(private readonly opts: GuardOptions) {
    this.say = sayAtMostEvery(opts.diag, opts.sayEveryMs ?? 60_000);
  }

  get total(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  /** Runs `fn`; returns its value, or undefined when it threw (counted and reported). */
  run<T>(fn: () => T): T | undefined {
    try {
      const v = fn();
      this.ok();
      return v;
    } catch (error) {
      this.fail(asSourceError(error));
      return undefined;
    }
  }

  /** A run that worked: the streak of failures ends. */
  ok(): void {
    this.inARow = 0;
    this.degradedNow = false;
  }

  fail(error: SourceError): void {
    const code = error.code;
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    this.inARow++;
    this.say(
      code,
      `${this.opts.what}: ${code}: ${error.message} (${this.errors.get(code)} so far; said at most once a minute)`,
    );
    if (!this.degradedNow && this.inARow >= (this.opts.degradeAfter ?? 20)) {
      this.degradedNow = true;
      this.opts.onDegraded(
        `${this.inARow} runs of the ${this.opts.what} failed in a row (last: ${code}: ${error.message})`,
      );
    }
  }
}
