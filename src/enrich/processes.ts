import { type ProcessFacts, readProcessRest, readStat } from "./process.ts";

/**
 * Process facts cached by pid + start time + name, so a pid reused by a new process, or a process that
 * exec'd another program, is read afresh; a stat read is the only cost of a hit. Bounded (LRU) so a
 * long-running daemon on a busy host keeps a steady footprint.
 */
export class ProcessCache {
  private readonly cache = new Map<string, ProcessFacts>();
  hits = 0;
  misses = 0;

  constructor(private readonly max = 4096) {}

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
    this.cache.set(key, facts);
    if (this.cache.size > this.max) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return facts;
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
