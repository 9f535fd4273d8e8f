import type { EnrichedEvent } from "../../src/enrich/enricher.ts";

export const S = 1_000_000_000n;
/** 2026-05-28T20:26:40Z. */
export const T0 = 1_780_000_000n * S;

/**
 * A connection record as the pipeline makes it: alice's ssh (pid 4242) from [2001:db8::2]:40000 to
 * [2001:db8::1]:22, opened at T0 or closed 5 s later, with what a test sets over it.
 */
export function enrichedConnection(
  id: string,
  action: "opened" | "closed",
  over: Partial<EnrichedEvent> = {},
): EnrichedEvent {
  return {
    id,
    source: "ebpf",
    action,
    timeNs: action === "closed" ? T0 + 5n * S : T0,
    startNs: T0,
    ...(action === "closed" ? { endNs: T0 + 5n * S } : {}),
    observed: "live",
    socket: {
      key: id,
      family: "ipv6",
      local: { ip: "2001:db8::2", port: 40000 },
      remote: { ip: "2001:db8::1", port: 22 },
      state: "ESTABLISHED",
      uid: 1000,
      owner: { pid: 4242, comm: "ssh" },
    },
    process: { pid: 4242, name: "ssh", args: ["ssh", "db1"], uid: 1000, user: "alice" },
    ancestry: [],
    attribution: "complete",
    ...over,
  } as EnrichedEvent;
}
