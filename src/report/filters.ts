import { InvalidOptionError } from "../errors.ts";
import { endpoint, unbracketed } from "../format/endpoint.ts";
import type { Gap, Notice, Session } from "./sessions.ts";

export interface Filters {
  since?: number;
  until?: number;
  user?: string;
  target?: string;
  process?: string;
  failed?: boolean;
  /** Only sessions that opened tunnels (port or stdio forwards). */
  forwards?: boolean;
  /** Only these hosts, each by name or machine id. */
  hosts?: readonly string[];
  /** Only connections with no end in the files (`list` over a trail): open, or unknown. */
  open?: boolean;
}

const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** An ISO time (`2026-11-25`, `2026-11-25T13:00:00Z`) or a time ago (`90m`, `24h`, `7d`, `2w`). */
export function parseTime(option: string, value: string, now = Date.now()): number {
  const rel = /^(\d+)([smhdw])$/.exec(value.trim());
  if (rel) return now - Number(rel[1]) * (UNITS[rel[2] as string] as number);
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  throw new InvalidOptionError(
    option,
    value,
    "an ISO 8601 time (2026-11-25T13:00:00Z) or a time ago (30m, 24h, 7d)",
  );
}

/** Whether any filter is given (none: everything matches, nothing to test). */
export function filtering(f: Filters): boolean {
  return (
    f.since !== undefined ||
    f.until !== undefined ||
    f.user !== undefined ||
    f.target !== undefined ||
    f.process !== undefined ||
    f.failed === true ||
    f.forwards === true ||
    f.open === true ||
    (f.hosts?.length ?? 0) > 0
  );
}

/** Sessions that were going on in [since, until] and match every other filter given. */
export function matches(s: Session, f: Filters): boolean {
  if (f.failed && s.status !== "failed") return false;
  if (f.forwards && !s.forwards) return false;
  if (f.open && s.status !== "open" && s.status !== "unknown") return false;
  if (f.hosts?.length && !f.hosts.some((h) => h === s.host || h === s.hostId)) return false;
  if (f.since !== undefined && s.end !== undefined && Date.parse(s.end) < f.since) return false;
  if (f.until !== undefined && Date.parse(s.start) > f.until) return false;
  // The process's user or the one who logged in: `--user alice` finds her `sudo ssh` too.
  if (f.user !== undefined && s.user !== f.user && s.login?.user !== f.user) return false;
  if (f.process !== undefined && s.process !== f.process) return false;
  if (f.target !== undefined) {
    // As written anywhere: the typed target (with or without its user), the host typed, the address
    // connected to, or it and the port (`[2001:db8::1]:22`); an address may come in brackets.
    const dest = s.destIp === undefined ? undefined : endpoint(s.destIp, s.destPort);
    const typedHostPort = s.target?.replace(/^[^@]*@/, "");
    const candidates = [s.targetHost, s.target, typedHostPort, s.destIp, dest];
    if (!candidates.includes(f.target) && !candidates.includes(unbracketed(f.target))) return false;
  }
  return true;
}

/** Gaps that overlap [since, until], of the hosts asked for. */
export function gapMatches(g: Gap, f: Filters): boolean {
  if (f.hosts?.length && !f.hosts.some((h) => h === g.host || h === g.hostId)) return false;
  if (f.since !== undefined && g.to !== undefined && Date.parse(g.to) < f.since) return false;
  if (f.until !== undefined && Date.parse(g.from) > f.until) return false;
  return true;
}

/** Notices in [since, until], of the hosts asked for; a flood summary of the user asked for. */
export function noticeMatches(n: Notice, f: Filters): boolean {
  if (f.hosts?.length && !f.hosts.some((h) => h === n.host || h === n.hostId)) return false;
  if (f.since !== undefined && Date.parse(n.to) < f.since) return false;
  if (f.until !== undefined && Date.parse(n.from) > f.until) return false;
  if (f.user !== undefined && n.user !== f.user) return false;
  // Filters about one connection's process, target or outcome cannot match a count of many.
  return f.process === undefined && f.target === undefined && !f.forwards;
}
