/**
 * The part of a log line `report` reads, taken from the ECS record defensively: a line from another
 * version, with fields added or missing, is read for what it has; one that is not a record of ours is
 * reported as skipped with the reason.
 */
import { isMonitorAction, type MonitorAction } from "../format/record.ts";
import { forwardsList } from "../format/target.ts";

export type ConnectionAction = "opened" | "closed" | "failed" | "unresolved";

/** What a connection record and an ssh-session record both tell: who, when, to what. */
export interface WhoRecord {
  id: string;
  /** host.id, the machine id: two hosts of one name stay apart. */
  hostId?: string;
  /** ISO time of the record and of the start (event.start). */
  time: string;
  start: string;
  end?: string;
  host: string;
  user?: string;
  pid?: number;
  process?: string;
  commandLine?: string;
  target?: { client?: string; user?: string; host?: string; port?: number };
  /** The tunnels it asked for, as the text format shows them: L:…, R:…, D:…, W:…. */
  forwards?: string[];
  /** Agent forwarding, when given. */
  agent?: boolean;
  ancestry: string[];
  /** unknown: the end was inferred (closed while the daemon was down, lost events), not seen. */
  outcome?: string;
  /** The login behind it (ssh_outbound.login). */
  login?: LoginSummary;
  /** Changes of user on the way from the login (sudo, su), oldest first. */
  changes?: { from: string; to: string; via: string }[];
}

/** Who logged in, how, and through sshd the flow the login came in on (its Community ID). */
export interface LoginSummary {
  user?: string;
  entry?: string;
  communityId?: string;
  ip?: string;
  port?: number;
}

export interface ConnectionRecord extends WhoRecord {
  kind: "connection";
  action: ConnectionAction;
  destIp?: string;
  destPort?: number;
  sent?: number;
  received?: number;
  observed?: string;
  /** When the process started (process.start). */
  processStart?: string;
  /** network.community_id: the flow, the same in the record of the host it went to (its login's). */
  communityId?: string;
  /** The server's identification string (ssh_outbound.server_banner), when the source saw it. */
  serverBanner?: string;
}

export interface MonitorRecord {
  kind: "monitor";
  action: MonitorAction;
  time: string;
  host: string;
  pid?: number;
  hostId?: string;
  reason?: string;
  /** monitor-started: the daemon continues the connections its last run had open (state file). */
  continuity?: boolean;
  /** events-lost: how many, where, and when (event.start, event.end). */
  lost?: { count: number; stage: string; from: string; to: string };
}

/** A connections-suppressed record: one user's connections beyond its rate, counted. */
export interface SuppressedRecord {
  kind: "suppressed";
  time: string;
  host: string;
  hostId?: string;
  user?: string;
  from: string;
  to: string;
  count: number;
  failed: number;
  destinations: number;
}

/** An ssh-session record: a session that rode the connection `via` (a control master's). */
export interface MuxRecord extends WhoRecord {
  kind: "mux";
  via?: string;
}

export type ReportRecord = ConnectionRecord | MonitorRecord | MuxRecord | SuppressedRecord;

export type SkipReason = "not-json" | "truncated" | "not-ours" | "missing-fields" | "duplicate";

const CONNECTION: Record<string, ConnectionAction> = {
  "connection-opened": "opened",
  "connection-closed": "closed",
  "connection-failed": "failed",
  "connection-unresolved": "unresolved",
};

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of unknown version, read field by field
type Json = any;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/** The target's forwards as `L:…`, `R:…`, `D:…`, `W:…`; undefined when none. */
function forwardsOf(t: Json): string[] | undefined {
  if (!t || typeof t !== "object") return undefined;
  const f = t.forwards ?? {};
  const list = forwardsList(
    { local: strings(f.local), remote: strings(f.remote), dynamic: strings(f.dynamic) },
    typeof t.stdio_forward === "string" ? t.stdio_forward : undefined,
  );
  return list.length ? list : undefined;
}

function loginOf(l: Json): LoginSummary | undefined {
  if (!l || typeof l !== "object") return undefined;
  return {
    user: str(l.user?.name) ?? str(l.user?.id),
    entry: str(l.entry),
    communityId: str(l.community_id),
    ip: str(l.source?.ip),
    port: num(l.source?.port),
  };
}

function changesOf(v: Json): WhoRecord["changes"] {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  return v.map((c: Json) => ({ from: str(c?.from) ?? "?", to: str(c?.to) ?? "?", via: str(c?.via) ?? "?" }));
}

const joined = (v: unknown): string | undefined =>
  Array.isArray(v) && v.every((a) => typeof a === "string") ? v.join(" ") : undefined;

export function toRecord(text: string, complete: boolean): ReportRecord | SkipReason {
  const cut = withoutAncestry(text);
  let j: Json;
  try {
    j = JSON.parse(cut ? cut.rest : text);
  } catch {
    return complete ? "not-json" : "truncated";
  }
  if (cut && j?.ssh_outbound) j.ssh_outbound.ancestry = cut.names.map((name) => ({ name }));
  return recordOf(j);
}

const ANCESTRY = '"ancestry":[';
const NAME = /"name":("(?:[^"\\]|\\.)*")/g;

/**
 * The line with its ancestry array emptied, and the ancestors' names. The ancestry, every ancestor's
 * full argv, is most of a record and all that report takes from it is the names, so it is not handed
 * to JSON.parse (about twice as fast on a million lines). This relies only on JSON itself: a quote
 * inside a string is escaped, so `"ancestry":[`, `],"target":` and `"name":"` occur in a line only
 * as keys. Undefined when the line is not laid out as the daemon writes it: it is parsed whole.
 */
function withoutAncestry(line: string): { rest: string; names: string[] } | undefined {
  const at = line.indexOf(ANCESTRY);
  if (at < 0) return undefined;
  const from = at + ANCESTRY.length - 1;
  let end = line.indexOf('],"target":', from);
  if (end < 0) {
    if (!line.endsWith("]}}")) return undefined;
    end = line.length - 3;
  }
  const names: string[] = [];
  const part = line.slice(from, end + 1);
  for (let m = NAME.exec(part); m; m = NAME.exec(part)) names.push(JSON.parse(m[1] as string));
  NAME.lastIndex = 0;
  return { rest: `${line.slice(0, from)}[]${line.slice(end + 1)}`, names };
}

/** The record in an ECS object (a parsed line, or one `list` has just made). */
export function recordOf(j: Json): ReportRecord | SkipReason {
  if (typeof j !== "object" || j === null) return "not-json";
  const action = str(j.event?.action);
  const time = str(j["@timestamp"]);
  if (action === undefined || time === undefined || Number.isNaN(Date.parse(time))) return "not-ours";
  const host = str(j.host?.hostname) ?? "";
  const hostId = str(j.host?.id);
  if (isMonitorAction(action)) {
    const m = j.ssh_outbound?.monitor ?? {};
    return {
      kind: "monitor",
      action,
      time,
      host,
      hostId,
      pid: num(m.pid),
      reason: str(m.reason),
      continuity: typeof m.continuity === "object" && m.continuity !== null,
      lost:
        typeof m.lost === "object" && m.lost !== null
          ? {
              count: num(m.lost.count) ?? 0,
              stage: str(m.lost.stage) ?? "?",
              from: str(j.event?.start) ?? time,
              to: str(j.event?.end) ?? time,
            }
          : undefined,
    };
  }
  if (action === "connections-suppressed") {
    const s = j.ssh_outbound?.suppressed;
    if (typeof s !== "object" || s === null || num(s.count) === undefined) return "missing-fields";
    return {
      kind: "suppressed",
      time,
      host,
      hostId,
      user: str(j.user?.name) ?? str(j.user?.id),
      from: str(j.event?.start) ?? time,
      to: str(j.event?.end) ?? time,
      count: num(s.count) ?? 0,
      failed: num(s.failed) ?? 0,
      destinations: num(s.destination_count) ?? 0,
    };
  }
  const who = (id: string): WhoRecord => {
    const t = j.ssh_outbound?.target;
    return {
      id,
      hostId,
      time,
      start: str(j.event?.start) ?? time,
      end: str(j.event?.end),
      host,
      user: str(j.user?.name) ?? str(j.user?.id),
      pid: num(j.process?.pid),
      process: str(j.process?.name),
      // Earlier records carried command_line; later ones write the argv once, as args.
      commandLine: str(j.process?.command_line) ?? joined(j.process?.args),
      target:
        t && typeof t === "object"
          ? { client: str(t.client), user: str(t.user), host: str(t.host), port: num(t.port) }
          : undefined,
      forwards: forwardsOf(t),
      agent: typeof t?.agent_forwarding === "boolean" ? t.agent_forwarding : undefined,
      ancestry: Array.isArray(j.ssh_outbound?.ancestry)
        ? j.ssh_outbound.ancestry.map((x: Json) => str(x?.name) ?? "?")
        : [],
      outcome: str(j.event?.outcome),
      login: loginOf(j.ssh_outbound?.login),
      changes: changesOf(j.ssh_outbound?.user_changes),
    };
  };
  // The kind-specific fields are set on the shared part, not spread into a new object: this runs
  // once per line of a log of millions, and a spread costs a copy of every field each time.
  if (action === "ssh-session") {
    const id = str(j.ssh_outbound?.session_id);
    if (id === undefined) return "missing-fields";
    const mux = who(id) as MuxRecord;
    mux.kind = "mux";
    mux.via = str(j.ssh_outbound?.via_connection_id);
    return mux;
  }
  const a = CONNECTION[action];
  if (a === undefined) return "not-ours";
  const id = str(j.ssh_outbound?.connection_id);
  if (id === undefined) return "missing-fields";
  const c = who(id) as ConnectionRecord;
  c.kind = "connection";
  c.action = a;
  c.destIp = str(j.destination?.ip);
  c.destPort = num(j.destination?.port);
  c.sent = num(j.source?.bytes);
  c.received = num(j.destination?.bytes);
  c.observed = str(j.ssh_outbound?.observed);
  c.processStart = str(j.process?.start);
  c.communityId = str(j.network?.community_id);
  c.serverBanner = str(j.ssh_outbound?.server_banner);
  return c;
}

const OPENED = '"action":"connection-opened"';
const ID = '"connection_id":"';
const HOST = '"host":{"hostname":"';
const HOST_ID = '","id":"';
const TIME = '{"@timestamp":"';
const ACTION_WITHIN = 400;

/**
 * The id and host of a connection-opened line, found without parsing it: a session's close record
 * carries everything its open does, so an open is parsed only if its session never closes (about
 * half of all lines are not parsed at all). Undefined for any other line, or one not laid out as the
 * daemon writes it (it is then parsed as usual).
 */
export function peekOpened(
  line: string,
): { id: string; host: string; hostId?: string; time: string } | undefined {
  // event.action comes early in the daemon's lines: look only there, not through the whole line.
  if (!line.startsWith(TIME) || line.lastIndexOf(OPENED, ACTION_WITHIN) < 0) return undefined;
  const time = line.slice(TIME.length, line.indexOf('"', TIME.length));
  if (Number.isNaN(Date.parse(time))) return undefined;
  const i = line.indexOf(ID);
  const h = line.indexOf(HOST);
  if (i < 0 || h < 0) return undefined;
  const idEnd = line.indexOf('"', i + ID.length);
  const hostEnd = line.indexOf('"', h + HOST.length);
  const id = line.slice(i + ID.length, idEnd);
  const host = line.slice(h + HOST.length, hostEnd);
  if (idEnd < 0 || hostEnd < 0 || id.includes("\\") || host.includes("\\")) return undefined;
  if (!line.startsWith(HOST_ID, hostEnd)) return { id, host, time };
  const hostId = line.slice(hostEnd + HOST_ID.length, line.indexOf('"', hostEnd + HOST_ID.length));
  return /^[0-9a-f]{32}$/.test(hostId) ? { id, host, hostId, time } : undefined;
}
