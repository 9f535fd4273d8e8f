/**
 * The part of a log line `report` reads, taken from the ECS record defensively: a line from another
 * version, with fields added or missing, is read for what it has; one that is not a record of ours is
 * reported as skipped with the reason.
 */

export type ConnectionAction = "attempted" | "opened" | "closed" | "failed";

export interface ConnectionRecord {
  kind: "connection";
  action: ConnectionAction;
  id: string;
  /** ISO time of the record and of the connection's start (event.start). */
  time: string;
  start: string;
  end?: string;
  host: string;
  user?: string;
  pid?: number;
  process?: string;
  commandLine?: string;
  target?: { client?: string; user?: string; host?: string; port?: number };
  destIp?: string;
  destPort?: number;
  sent?: number;
  received?: number;
  ancestry: string[];
  observed?: string;
  /** When the process started (process.start). */
  processStart?: string;
}

export interface MonitorRecord {
  kind: "monitor";
  action: "monitor-started" | "monitor-stopped" | "monitor-degraded";
  time: string;
  host: string;
  pid?: number;
  reason?: string;
}

export type ReportRecord = ConnectionRecord | MonitorRecord;

export type SkipReason = "not-json" | "truncated" | "not-ours" | "missing-fields";

const CONNECTION: Record<string, ConnectionAction> = {
  "connection-attempted": "attempted",
  "connection-opened": "opened",
  "connection-closed": "closed",
  "connection-failed": "failed",
};
const MONITOR = new Set(["monitor-started", "monitor-stopped", "monitor-degraded"]);

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of unknown version, read field by field
type Json = any;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export function toRecord(text: string, complete: boolean): ReportRecord | SkipReason {
  let j: Json;
  try {
    j = JSON.parse(text);
  } catch {
    return complete ? "not-json" : "truncated";
  }
  return recordOf(j);
}

/** The record in an ECS object (a parsed line, or one `list` has just made). */
export function recordOf(j: Json): ReportRecord | SkipReason {
  if (typeof j !== "object" || j === null) return "not-json";
  const action = str(j.event?.action);
  const time = str(j["@timestamp"]);
  if (action === undefined || time === undefined || Number.isNaN(Date.parse(time))) return "not-ours";
  const host = str(j.host?.hostname) ?? "";
  if (MONITOR.has(action)) {
    const m = j.ssh_outbound?.monitor ?? {};
    return {
      kind: "monitor",
      action: action as MonitorRecord["action"],
      time,
      host,
      pid: num(m.pid),
      reason: str(m.reason),
    };
  }
  const a = CONNECTION[action];
  if (a === undefined) return "not-ours";
  const id = str(j.ssh_outbound?.connection_id);
  if (id === undefined) return "missing-fields";
  const t = j.ssh_outbound?.target;
  const ancestry = Array.isArray(j.ssh_outbound?.ancestry)
    ? j.ssh_outbound.ancestry.map((x: Json) => str(x?.name) ?? "?")
    : [];
  return {
    kind: "connection",
    action: a,
    id,
    time,
    start: str(j.event?.start) ?? time,
    end: str(j.event?.end),
    host,
    user: str(j.user?.name) ?? str(j.user?.id),
    pid: num(j.process?.pid),
    process: str(j.process?.name),
    commandLine: str(j.process?.command_line),
    target:
      t && typeof t === "object"
        ? { client: str(t.client), user: str(t.user), host: str(t.host), port: num(t.port) }
        : undefined,
    destIp: str(j.destination?.ip),
    destPort: num(j.destination?.port),
    sent: num(j.source?.bytes),
    received: num(j.destination?.bytes),
    ancestry,
    observed: str(j.ssh_outbound?.observed),
    processStart: str(j.process?.start),
  };
}
