import { nsInode, PROC, readLink } from "../../proc-io.ts";
import type { KernelEvent } from "./kernel-table.ts";

/** Sockets of other namespaces remembered at once; past it, forgotten (their later records count as orphans). */
const FOREIGN_MAX = 65_536;

/**
 * `--netns own` for the probe, which sees every namespace: only the daemon's own network namespace's
 * sockets go on. A connect and a close carry their namespace; an established record does not, so the
 * sockets of other namespaces are remembered from their connect until their close.
 */
export class OwnNetnsFilter {
  private readonly foreign = new Set<string>();
  /** Connects of other namespaces left out. */
  dropped = 0;

  constructor(private readonly own: number) {}

  /** The filter for this process's own namespace; undefined when it cannot be read. */
  static forSelf(): OwnNetnsFilter | undefined {
    const own = nsInode(readLink(`${PROC}/self/ns/net`));
    return own === undefined || Number.isNaN(own) ? undefined : new OwnNetnsFilter(own);
  }

  keep(ev: KernelEvent): boolean {
    if (ev.kind === "established" || ev.kind === "banner") return !this.foreign.has(ev.sk);
    if (ev.netns === this.own) return true;
    if (ev.kind === "close") {
      this.foreign.delete(ev.sk);
      return false;
    }
    this.dropped++;
    if (this.foreign.size >= FOREIGN_MAX) this.foreign.clear();
    this.foreign.add(ev.sk);
    return false;
  }
}
