import { isoNs } from "../clock.ts";
import { isEnd } from "../tracker.ts";
import { showRawBytes } from "./escape.ts";
import {
  type EnrichedEvent,
  isMonitorEvent,
  type LogRecord,
  type MonitorEvent,
  type ProcessRecord,
} from "./record.ts";

/** The ECS version whose field set the records follow. */
export const ECS_VERSION = "8.17.0";

type Json = string | number | boolean | null | Json[] | { [k: string]: Json | undefined };
type Obj = { [k: string]: Json | undefined };

const ACTION = {
  opened: "connection-opened",
  closed: "connection-closed",
  failed: "connection-failed",
  attempted: "connection-attempted",
  unresolved: "connection-unresolved",
} as const;

export interface EcsContext {
  hostname: string;
}

/** Drops undefined members and empty objects so absent facts are absent, not null. */
function compact(o: Obj): Obj | undefined {
  const out: Obj = {};
  let any = false;
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const inner = compact(v as Obj);
      if (inner === undefined) continue;
      out[k] = inner;
    } else out[k] = v;
    any = true;
  }
  return any ? out : undefined;
}

const text = (s: string | undefined): string | undefined => (s === undefined ? undefined : showRawBytes(s));

/** ECS `process.command_line`: the argv joined with spaces, as ECS defines it (not shell-quoted). */
export function commandLine(args: readonly string[] | undefined): string | undefined {
  return args === undefined ? undefined : showRawBytes(args.join(" "));
}

function processFields(p: ProcessRecord | undefined): Obj | undefined {
  if (!p) return undefined;
  return {
    pid: p.pid,
    name: text(p.name),
    executable: text(p.executable),
    args: p.args?.map(showRawBytes),
    args_count: p.args?.length,
    command_line: commandLine(p.args),
    start: p.startNs === undefined ? undefined : isoNs(p.startNs),
    user: p.euid === undefined ? undefined : { id: String(p.euid), name: p.euser },
    real_user: p.uid === undefined ? undefined : { id: String(p.uid), name: p.user },
  };
}

function connection(ev: EnrichedEvent, ctx: EcsContext): Obj {
  const s = ev.socket;
  const ending = isEnd(ev.action);
  const p = ev.process;
  const process = processFields(p);
  if (process && ev.parent) process.parent = processFields(ev.parent);
  return {
    "@timestamp": isoNs(ev.timeNs),
    ecs: { version: ECS_VERSION },
    event: {
      kind: "event",
      category: ["network"],
      type: ["connection", ending ? "end" : "start"],
      action: ACTION[ev.action],
      outcome: ev.outcome ?? (ev.action === "failed" ? "failure" : "success"),
      start: isoNs(ev.startNs),
      end: ev.endNs === undefined ? undefined : isoNs(ev.endNs),
      duration: ev.endNs === undefined ? undefined : Number(ev.endNs - ev.startNs),
    },
    process,
    user: p?.uid === undefined ? undefined : { id: String(p.uid), name: p.user },
    source: { ip: s.local?.ip, port: s.local?.port || undefined, bytes: ev.bytesSent },
    destination: { ip: s.remote.ip, port: s.remote.port, bytes: ev.bytesReceived },
    network: {
      transport: "tcp",
      iana_number: "6",
      type: s.family,
      direction: "egress",
      community_id: ev.communityId,
      bytes:
        ev.bytesSent === undefined || ev.bytesReceived === undefined
          ? undefined
          : ev.bytesSent + ev.bytesReceived,
    },
    host: { hostname: ctx.hostname },
    ssh_outbound: {
      connection_id: ev.id,
      source: ev.source,
      state: ending ? ev.lastState : s.state,
      observed: ev.observed,
      end_window: ev.endWindow
        ? { after: isoNs(ev.endWindow.afterNs), before: isoNs(ev.endWindow.beforeNs) }
        : undefined,
      attribution: ev.attribution,
      fd: s.owner?.fd,
      tid: s.owner?.tid,
      inode: s.inode,
      netns: s.netns,
      ancestry: ev.ancestry.map((a) => ({
        pid: a.pid,
        name: showRawBytes(a.name),
        args: a.args.map(showRawBytes),
        user: a.user,
        start: isoNs(a.startNs),
      })),
      target: ev.target
        ? {
            client: ev.target.client,
            user: text(ev.target.user),
            host: text(ev.target.host),
            port: ev.target.port,
            jump: ev.target.jump.map(showRawBytes),
            command: text(ev.target.command),
          }
        : undefined,
    },
  };
}

const MONITOR_TYPE: Record<MonitorEvent["action"], string> = {
  "monitor-started": "start",
  "monitor-stopped": "end",
  "monitor-degraded": "change",
  "output-recovered": "change",
};

function monitor(ev: MonitorEvent, ctx: EcsContext): Obj {
  const o = ev.outage;
  const c = ev.continuity;
  return {
    "@timestamp": isoNs(ev.timeNs),
    ecs: { version: ECS_VERSION },
    event: {
      kind: "event",
      category: ["process"],
      type: [MONITOR_TYPE[ev.action]],
      action: ev.action,
      outcome: ev.action === "monitor-degraded" ? "failure" : "success",
      start: o ? isoNs(o.sinceNs) : undefined,
      end: o ? isoNs(o.untilNs) : undefined,
    },
    host: { hostname: ctx.hostname },
    ssh_outbound: {
      monitor: {
        version: ev.version,
        pid: ev.pid,
        source: ev.source,
        reason: ev.reason,
        ports: ev.ports,
        clients: ev.clients,
        interval_ms: ev.intervalMs,
        stats: ev.stats,
        continuity: c
          ? {
              state_file: c.stateFile,
              resumed: c.resumed,
              closed_while_down: c.closedWhileDown,
              note: c.note,
            }
          : undefined,
        outage: o ? { held: o.held, dropped: o.dropped, error: o.error } : undefined,
      },
    },
  };
}

/** The ECS-aligned object for one record; the JSON Schema in schema/ describes exactly this. */
export function toEcs(r: LogRecord, ctx: EcsContext): Obj {
  return compact(isMonitorEvent(r) ? monitor(r, ctx) : connection(r, ctx)) ?? {};
}
