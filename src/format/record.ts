import type { EnrichedEvent, EnrichedSession } from "../enrich/enricher.ts";
import type { SuppressedSummary } from "../track/flood.ts";

export type { AncestorRecord, EnrichedEvent, EnrichedSession, ProcessRecord } from "../enrich/enricher.ts";
export type { SuppressedSummary } from "../track/flood.ts";

export type MonitorAction =
  | "monitor-started"
  | "monitor-stopped"
  | "monitor-degraded"
  | "output-recovered"
  | "events-lost";

import type { Loss } from "../sources/types.ts";

/** The daemon's own life, so a reader of the trail can see when nobody was watching. */
export interface MonitorEvent {
  action: MonitorAction;
  timeNs: bigint;
  version: string;
  pid: number;
  source: string;
  /** Why this source was chosen, or why it degraded. */
  reason: string;
  ports: number[];
  clients: string[];
  intervalMs: number;
  /** Counters at this moment; on monitor-stopped the totals of the run. */
  stats?: Record<string, number>;
  /** monitor-started: what was carried over from the last run through the state file. */
  continuity?: { stateFile: string; resumed: number; closedWhileDown: number; note?: string };
  /** output-recovered: the time writing failed, and what was held and dropped meanwhile. */
  outage?: {
    sinceNs: bigint;
    untilNs: bigint;
    held: number;
    dropped: number;
    error: string;
    /** What was dropped, by user and action (`user:action` → count). */
    droppedBy?: Record<string, number>;
  };
  /** events-lost: how many events the source lost between which times, and where. */
  loss?: Loss;
}

export type LogRecord = EnrichedEvent | EnrichedSession | MonitorEvent | SuppressedSummary;

const MONITOR_ACTIONS: ReadonlySet<string> = new Set<MonitorAction>([
  "monitor-started",
  "monitor-stopped",
  "monitor-degraded",
  "output-recovered",
  "events-lost",
]);

export function isMonitorEvent(r: LogRecord): r is MonitorEvent {
  return MONITOR_ACTIONS.has(r.action);
}

/** Whether an `event.action` read back from a trail is one of the daemon's own (report reads them). */
export function isMonitorAction(action: unknown): action is MonitorAction {
  return typeof action === "string" && MONITOR_ACTIONS.has(action);
}

export function isSession(r: LogRecord): r is EnrichedSession {
  return r.action === "session-ended";
}

export function isSuppressed(r: LogRecord): r is SuppressedSummary {
  return r.action === "connections-suppressed";
}
