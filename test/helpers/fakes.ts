import { emptySinkStats, type Sink, type SinkStats } from "../../src/sinks/sink.ts";
import type { Observation, Source, SourceEvents, SourceName, SourceStats } from "../../src/sources/types.ts";

/** A source driven by the test: it emits what the test says, when the test says. */
export class FakeSource implements Source {
  reason: string;
  events: SourceEvents | undefined;
  started = 0;
  stopped = 0;

  constructor(
    readonly name: SourceName,
    private readonly opts: { failStart?: Error; duringStart?: Observation[] } = {},
  ) {
    this.reason = `${name} (fake)`;
  }

  async start(events: SourceEvents): Promise<void> {
    this.started++;
    this.events = events;
    if (this.opts.failStart) throw this.opts.failStart;
    for (const o of this.opts.duringStart ?? []) events.emit(o);
  }

  async stop(): Promise<void> {
    this.stopped++;
  }

  stats(): SourceStats {
    return { lost: 0 };
  }
}

/** A sink that keeps lines in memory. */
export class MemorySink implements Sink {
  readonly lines: string[] = [];
  readonly stats: SinkStats = emptySinkStats();
  ended = false;

  write(line: string): void {
    this.lines.push(line);
    this.stats.lines++;
  }

  reopen(): void {
    this.stats.reopens++;
  }

  async end(): Promise<number> {
    this.ended = true;
    return 0;
  }

  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON lines
  records(): any[] {
    return this.lines.map((l) => JSON.parse(l));
  }
}

export const quietDiag = () => {
  const said: string[] = [];
  return {
    said,
    info: (m: string) => void said.push(m),
    warn: (m: string) => void said.push(m),
    once: (_k: string, m: string) => void said.push(m),
  };
};
