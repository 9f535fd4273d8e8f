import type { ProcessFacts } from "./process.ts";
import { isProxyOf } from "./proxy.ts";
import type { SshTarget } from "./ssh-argv.ts";

/** Which hop of a route a connection goes to: 1 is the first jump host, `of` the destination itself. */
export interface Route {
  hop: number;
  of: number;
}

/**
 * The session an `ssh -W` helper serves. ProxyJump runs one helper per hop, each the ProxyCommand of
 * the one above (`ssh -J a,b db1` runs `ssh -J a -W [db1]:22 b`, which runs `ssh -W [b]:22 a`), and
 * only the deepest makes a TCP connection, to the first hop. Climbing while each is the stdio pipe of
 * its parent (shared pipes, see proxy.ts) reaches the command the user typed: its target, with its jump
 * list, is the session's. `ancestry` runs from pid 1 down to the parent of `live`.
 */
export function servedBy(
  live: ProcessFacts,
  target: SshTarget,
  ancestry: readonly ProcessFacts[],
  targetOf: (p: ProcessFacts) => SshTarget | undefined,
): { target: SshTarget; route: Route; proxyFor: number } | undefined {
  let cur = live;
  let curTarget = target;
  for (let i = ancestry.length - 1; i >= 0 && curTarget.stdioForward !== undefined; i--) {
    const parent = ancestry[i] as ProcessFacts;
    const above = targetOf(parent);
    if (!above || !isProxyOf(cur.pid, parent.pid)) break;
    cur = parent;
    curTarget = above;
  }
  if (cur === live) return undefined;
  const parentPid = (ancestry[ancestry.length - 1] as ProcessFacts).pid;
  // Without a jump list the helper was a ProxyCommand typed by hand: its host is the one hop.
  const of = Math.max(curTarget.jump.length, 1) + 1;
  return { target: curTarget, route: { hop: 1, of }, proxyFor: parentPid };
}
