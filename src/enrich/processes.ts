import { type ProcessFacts, readProcessRest, readStat } from "./process.ts";
import { parseClientArgv, type SshTarget } from "./ssh-argv.ts";

/** What the cache may hold of argv text, in all (characters; each process's argv is at most 64 KiB). */
const CACHE_ARGV_MAX = 16 * 1024 * 1024;

/** Parents whose chains are remembered at once; beyond, all are forgotten (read again when needed). */
const CHAINS_MAX = 1024;

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
    // The chain above a parent is read again at most once a second: a shell or a CI runner that
    // starts many clients costs one stat read (its own, which tells a reused pid) per connection,
    // not one per ancestor. What the chain says is at most a second old.
    const parent = of.ppid > 0 && of.ppid !== of.pid ? this.get(of.ppid) : undefined;
    if (!parent) return [];
    const key = `${parent.pid}:${parent.startNs}`;
    const now = Date.now();
    const memo = this.chains.get(key);
    if (memo && now - memo.atMs < 1000 && memo.depth === maxDepth) return [...memo.chain, parent];
    const chain: ProcessFacts[] = [];
    let ppid = parent.ppid;
    const seen = new Set<number>([of.pid, parent.pid]);
    while (ppid > 0 && !seen.has(ppid) && chain.length < maxDepth - 1) {
      seen.add(ppid);
      const p = this.get(ppid);
      if (!p) break;
      chain.push(p);
      ppid = p.ppid;
    }
    chain.reverse();
    if (this.chains.size >= CHAINS_MAX) this.chains.clear();
    this.chains.set(key, { chain, atMs: now, depth: maxDepth });
    return [...chain, parent];
  }

  /** Each parent's chain of ancestors, as last read, and when. */
  private readonly chains = new Map<string, { chain: ProcessFacts[]; atMs: number; depth: number }>();
}
