import { type ProcessFacts, readProcessRest, readStat } from "./process.ts";
import { parseClientArgv, type SshTarget } from "./ssh-argv.ts";

/** What the cache may hold of argv text, in all (characters; each process's argv is at most 64 KiB). */
const CACHE_ARGV_MAX = 16 * 1024 * 1024;

const argvSize = (p: ProcessFacts): number => p.args.reduce((n, a) => n + a.length + 1, 0);

/**
 * Process facts cached by pid + start time + name, so a pid reused by a new process, or a process that
 * exec'd another program, is read afresh; a stat read is the only cost of a hit. Bounded (LRU) in
 * entries and in argv held, so a long-running daemon on a busy host keeps a steady footprint whatever
 * command lines its processes were given.
 */
export class ProcessCache {
  private readonly cache = new Map<string, ProcessFacts>();
  private readonly sizes = new Map<string, number>();
  private held = 0;
  /** Each process's typed target, parsed once (its argv cannot change under the same key). */
  private readonly targets = new WeakMap<ProcessFacts, SshTarget | null>();
  hits = 0;
  misses = 0;
  parses = 0;

  constructor(
    private readonly max = 4096,
    private readonly argvMax = CACHE_ARGV_MAX,
  ) {}

  get(pid: number): ProcessFacts | undefined {
    const stat = readStat(pid);
    if (stat === undefined) return undefined;
    const key = `${pid}:${stat.startTicks}:${stat.comm}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.hits++;
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    this.misses++;
    const facts = readProcessRest(pid, stat);
    if (facts === undefined) return undefined;
    const size = argvSize(facts);
    this.cache.set(key, facts);
    this.sizes.set(key, size);
    this.held += size;
    while (this.cache.size > this.max || (this.held > this.argvMax && this.cache.size > 1)) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
      this.held -= this.sizes.get(oldest) ?? 0;
      this.sizes.delete(oldest);
    }
    return facts;
  }

  /** Entries and argv characters held, for the daemon's gauges. */
  get size(): { entries: number; argv: number } {
    return { entries: this.cache.size, argv: this.held };
  }

  /** The typed target of a process's argv, parsed at most once per process (undefined: not a client). */
  target(p: ProcessFacts): SshTarget | undefined {
    let t = this.targets.get(p);
    if (t === undefined) {
      this.parses++;
      t = parseClientArgv(p.args, p.name) ?? null;
      this.targets.set(p, t);
    }
    return t ?? undefined;
  }

  /**
   * The chain of ancestors from pid 1 (or the oldest one still alive) down to the direct parent.
   * A parent that exits mid-walk ends the chain there; its children have been re-parented anyway.
   */
  ancestry(of: ProcessFacts, maxDepth = 64): ProcessFacts[] {
    const chain: ProcessFacts[] = [];
    let ppid = of.ppid;
    const seen = new Set<number>([of.pid]);
    while (ppid > 0 && !seen.has(ppid) && chain.length < maxDepth) {
      seen.add(ppid);
      const p = this.get(ppid);
      if (!p) break;
      chain.push(p);
      ppid = p.ppid;
    }
    return chain.reverse();
  }
}
