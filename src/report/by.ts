import { endpoint } from "../format/endpoint.ts";
import type { Session } from "./sessions.ts";

export type GroupBy = "user" | "target" | "process" | "host" | "server-banner";

export interface Group {
  key: string;
  sessions: number;
  failed: number;
  first: string;
  last: string;
  /** Bytes sent + received over the sessions whose counts are known. */
  bytes: number;
}

const KEY: Record<GroupBy, (s: Session) => string> = {
  user: (s) => s.user ?? "?",
  target: (s) => s.target ?? (s.destIp ? endpoint(s.destIp, s.destPort) : "?"),
  process: (s) => s.process ?? "?",
  // Two hosts of one name stay apart by the start of their machine id.
  host: (s) => hostLabel(s),
  // The server's software, to find the connections to servers that still run a vulnerable release.
  "server-banner": (s) => s.serverBanner ?? "?",
};

/** Counts per user, target or process; memory follows the number of distinct keys. */
export class Grouper {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly by: GroupBy) {}

  add(s: Session): void {
    const key = KEY[this.by](s);
    const last = s.end ?? s.start;
    const g = this.groups.get(key);
    const bytes = (s.sent ?? 0) + (s.received ?? 0);
    if (!g) {
      this.groups.set(key, {
        key,
        sessions: 1,
        failed: s.status === "failed" ? 1 : 0,
        first: s.start,
        last,
        bytes,
      });
      return;
    }
    g.sessions++;
    if (s.status === "failed") g.failed++;
    if (Date.parse(s.start) < Date.parse(g.first)) g.first = s.start;
    if (Date.parse(last) > Date.parse(g.last)) g.last = last;
    g.bytes += bytes;
  }

  /** Most sessions first. */
  result(): Group[] {
    return [...this.groups.values()].sort((a, b) => b.sessions - a.sessions || a.key.localeCompare(b.key));
  }
}

/** A host as people read it: its name and the start of its machine id, `web1 (11111111)`. */
export function hostLabel(r: { host: string; hostId?: string | undefined }): string {
  return r.hostId ? `${r.host} (${r.hostId.slice(0, 8)})` : r.host;
}
