import { asSourceError } from "./errors.ts";
import type { Diagnostics, Source, SourceEvents, SourceName, SourceStats } from "./types.ts";

/**
 * A source that runs `primary` and, when it cannot start or stops for good, `fallback` instead. The
 * monitor sees one source whose name changes; the hand-over while running is said in the trail
 * (degraded). Both sources key sockets by inode, so open connections keep their ids across it.
 */
export class FallbackSource implements Source {
  private current: Source;
  private events: SourceEvents | undefined;
  private stopped = false;
  private switching: Promise<void> | undefined;

  constructor(
    private readonly primary: Source,
    private readonly makeFallback: () => Source,
    private readonly diag: Diagnostics,
  ) {
    this.current = primary;
  }

  get name(): SourceName {
    return this.current.name;
  }

  get reason(): string {
    return this.current.reason;
  }

  set reason(r: string) {
    this.current.reason = r;
  }

  async start(events: SourceEvents): Promise<void> {
    this.events = events;
    try {
      await this.primary.start(this.relay(this.primary));
    } catch (error) {
      const e = asSourceError(error);
      const why = `${this.primary.name} failed to start (${e.code}): ${e.message}`;
      this.diag.warn(why);
      await this.primary.stop().catch(() => undefined);
      const next = this.makeFallback();
      next.reason = `${next.name}, since ${why}`;
      this.current = next;
      await next.start(this.relay(next));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.switching;
    await this.current.stop();
  }

  stats(): SourceStats {
    return this.current.stats();
  }

  /** Passes a source's events on while it is the current one; its failure starts the fallback. */
  private relay(from: Source): SourceEvents {
    const events = this.events as SourceEvents;
    return {
      emit: (obs) => {
        if (this.current === from) events.emit(obs);
      },
      degraded: (why) => {
        if (this.current === from) events.degraded(why);
      },
      lost: (loss) => {
        if (this.current === from) events.lost?.(loss);
      },
      failed: (error) => {
        if (this.current !== from || this.stopped || from !== this.primary) return events.failed(error);
        this.switching = this.handOver(from, asSourceError(error).message);
      },
    };
  }

  private async handOver(from: Source, why: string): Promise<void> {
    await from.stop().catch(() => undefined);
    if (this.stopped) return;
    const next = this.makeFallback();
    next.reason = `${next.name}, since ${from.name} stopped: ${why}`;
    this.current = next;
    this.diag.warn(`source is now ${next.name}: ${why}`);
    this.events?.degraded(next.reason);
    try {
      await next.start(this.relay(next));
    } catch (error) {
      this.events?.failed(error as Error);
    }
  }
}
