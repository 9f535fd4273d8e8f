// One concept in one file (about 370 lines): the mapping of each record type to ECS fields. The four
// record types share their process, user, target and event parts, and the field names are easier to
// keep valid against Elastic's ecs_flat.yml read in one place.
import { isoNs } from "../clock.ts";
import { isEnd } from "../track/tracker.ts";
import { BOUNDS, type Bounds, boundArgs, boundString, type Cut } from "./argv-bound.ts";
import { ExactBytes } from "./exact-bytes.ts";
import {
  type EnrichedEvent,
  type EnrichedSession,
  isMonitorEvent,
  isSession,
  isSuppressed,
  type LogRecord,
  type MonitorEvent,
  type ProcessRecord,
  type SuppressedSummary,
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
  /** The machine id (/etc/machine-id), when there is one. */
  hostId?: string | undefined;
  /** How much argv and target text to keep (BOUNDS[0] unless a record has to be made smaller). */
  bounds?: Bounds;
}

/** Drops undefined members and empty objects so absent facts are absent, not null. */
function compact(o: Obj): Obj | undefined {
  const out: Obj = {};
  let any = false;
  // for-in rather than Object.entries: no array per member (every record passes here). The records'
  // objects are plain literals, with nothing inherited to enumerate.
  for (const k in o) {
    const v = o[k];
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

const cutFields = (c: Cut | undefined): Obj | undefined => (c ? { bytes: c.bytes, kept: c.kept } : undefined);

/**
 * ECS process fields. The argv is written once, as `args` (exact, a prefix when cut), with
 * `args_count` the count of the whole argv; `command_line` would repeat it joined, so it is left out.
 */
function processFields(
  p: ProcessRecord | undefined,
  maxArgv: number,
  exact: ExactBytes,
  path: string,
): { fields?: Obj; cut?: Cut } {
  if (!p) return {};
  const argv = p.args ? boundArgs(p.args, maxArgv, p.argsBytes) : undefined;
  const fields: Obj = {
    pid: p.pid,
    name: exact.text(p.name, `${path}.name`),
    executable: exact.text(p.executable, `${path}.executable`),
    args: exact.list(argv?.args, `${path}.args`),
    args_count: p.argsCount ?? p.args?.length,
    start: p.startNs === undefined ? undefined : isoNs(p.startNs),
    user: p.euid === undefined ? undefined : { id: String(p.euid), name: p.euser },
    real_user: p.uid === undefined ? undefined : { id: String(p.uid), name: p.user },
  };
  return { fields, cut: argv?.cut };
}

/**
 * The fields of a record that many records share: an ancestor, a parent, a leader (the enricher makes
 * one per process, and every connection below that process carries it). Made once, under the first
 * bounds, when all its text is UTF-8; otherwise its exact bytes belong under this record's paths
 * (raw_bytes), and it is made afresh each time, as under tighter bounds. Never changed once made.
 */
const shared = new WeakMap<object, Obj>();

function sharedFields(of: object, b: Bounds, exact: ExactBytes, make: (exact: ExactBytes) => Obj): Obj {
  if (b !== BOUNDS[0]) return make(exact);
  const hit = shared.get(of);
  if (hit) return hit;
  const own = new ExactBytes();
  const made = make(own);
  if (own.result() !== undefined) return make(exact);
  shared.set(of, made);
  return made;
}

/** A parent's or a leader's process fields (see sharedFields). */
const relativeFields = (p: ProcessRecord, b: Bounds, exact: ExactBytes, path: string): Obj =>
  sharedFields(p, b, exact, (x) => processFields(p, b.ancestor, x, path).fields as Obj);

function targetFields(t: EnrichedEvent["target"], exact: ExactBytes, b: Bounds): Obj | undefined {
  if (!t) return undefined;
  const command = t.command === undefined ? undefined : boundString(t.command, b.text);
  const path = "ssh_outbound.target";
  // Each string cut at b.text bytes and each list at b.entries: they come from an argv of any size.
  const one = (s: string | undefined, at: string) =>
    exact.text(s === undefined ? undefined : boundString(s, b.text).value, at);
  const list = (l: readonly string[] | undefined, at: string) =>
    l === undefined ? undefined : l.slice(0, b.entries).map((s, i) => one(s, `${at}.${i}`) as string);
  return {
    client: t.client,
    user: one(t.user, `${path}.user`),
    host: one(t.host, `${path}.host`),
    port: t.port,
    jump: list(t.jump, `${path}.jump`),
    command: exact.text(command?.value, `${path}.command`),
    command_cut: cutFields(command?.cut),
    forwards: t.forwards
      ? {
          local: list(t.forwards.local, `${path}.forwards.local`),
          remote: list(t.forwards.remote, `${path}.forwards.remote`),
          dynamic: list(t.forwards.dynamic, `${path}.forwards.dynamic`),
        }
      : undefined,
    stdio_forward: one(t.stdioForward, `${path}.stdio_forward`),
    agent_forwarding: t.agent,
    x11_forwarding: t.x11,
    identity_files: list(t.identities, `${path}.identity_files`),
    no_shell: t.noShell,
    control_command: one(t.controlCommand, `${path}.control_command`),
  };
}

/** Who made a connection or a session: the ECS process and user, and ours (ancestry, typed target). */
function who(
  ev: EnrichedEvent | EnrichedSession,
  exact: ExactBytes,
  b: Bounds,
): { process?: Obj; user?: Obj; ours: Obj; container?: Obj | undefined } {
  const p = ev.process;
  const own = processFields(p, b.process, exact, "process");
  const process = own.fields;
  if (process && ev.parent) process.parent = relativeFields(ev.parent, b, exact, "process.parent");
  const l = ev.login;
  if (process && ev.sessionLeader) {
    // A process that leads its own session (a tmux window's command, a daemon) is not written twice.
    process.session_leader =
      ev.sessionLeader.pid === p?.pid
        ? { pid: p.pid, same_as_process: true }
        : relativeFields(ev.sessionLeader, b, exact, "process.session_leader");
  }
  if (process && l?.leader) {
    process.entry_leader = {
      ...relativeFields(l.leader, b, exact, "process.entry_leader"),
      entry_meta: { type: ECS_ENTRY[l.entry], source: l.source ? { ip: l.source.ip } : undefined },
    };
  }
  // The nearest ancestors are kept when the chain is longer than the bounds allow.
  const from = Math.max(0, ev.ancestry.length - b.entries);
  return {
    process,
    user:
      p?.uid !== undefined
        ? { id: String(p.uid), name: p.user }
        : "socketUser" in ev && ev.socketUser
          ? { id: String(ev.socketUser.uid), name: ev.socketUser.name }
          : undefined,
    ours: {
      args_cut: cutFields(own.cut),
      executable_deleted: p?.executableDeleted,
      ancestry: ev.ancestry.slice(from).map((a, i) =>
        sharedFields(a, b, exact, (x) => {
          const argv = boundArgs(a.args, b.ancestor, a.argsBytes);
          return {
            pid: a.pid,
            name: x.text(a.name, `ssh_outbound.ancestry.${i}.name`),
            args: x.list(argv.args, `ssh_outbound.ancestry.${i}.args`),
            args_cut: cutFields(argv.cut),
            user: a.user,
            start: isoNs(a.startNs),
          };
        }),
      ),
      target: targetFields(ev.target, exact, b),
      login: l
        ? {
            user: l.uid === undefined ? undefined : { id: String(l.uid), name: l.user },
            session_id: l.session,
            entry: l.entry,
            program: l.program
              ? { pid: l.program.pid, name: exact.text(l.program.name, "ssh_outbound.login.program.name") }
              : undefined,
            source: l.source ? { ip: l.source.ip, port: l.source.port } : undefined,
            destination: l.destination ? { ip: l.destination.ip, port: l.destination.port } : undefined,
            community_id: l.communityId,
            unit: exact.text(l.unit, "ssh_outbound.login.unit"),
          }
        : undefined,
      user_changes: ev.userChanges?.slice(-b.entries).map((c, i) => ({
        pid: c.pid,
        from: c.from,
        to: c.to,
        via: exact.text(c.via, `ssh_outbound.user_changes.${i}.via`),
      })),
      unit: exact.text(ev.place?.unit, "ssh_outbound.unit"),
    },
    container: ev.place?.container
      ? { id: ev.place.container.id, runtime: ev.place.container.runtime }
      : undefined,
  };
}

/**
 * ECS's entry_meta.type for how a login began: its own values where it has one (a cron job and a
 * service are both begun by something init started: "init"); none for a login we cannot tell.
 */
const ECS_ENTRY: Record<string, string | undefined> = {
  sshd: "sshd",
  terminal: "terminal",
  cron: "init",
  systemd: "init",
  unknown: undefined,
};

const endWindow = (w: { afterNs: bigint; beforeNs: bigint } | undefined): Obj | undefined =>
  w ? { after: isoNs(w.afterNs), before: isoNs(w.beforeNs) } : undefined;

/** ECS `event` of something with a start and perhaps an end. */
function timedEvent(
  category: string,
  type: string[],
  action: string,
  outcome: string,
  ev: { startNs: bigint; endNs?: bigint | undefined },
): Obj {
  return {
    kind: "event",
    category: [category],
    type,
    action,
    outcome,
    start: isoNs(ev.startNs),
    end: ev.endNs === undefined ? undefined : isoNs(ev.endNs),
    duration: ev.endNs === undefined ? undefined : Number(ev.endNs - ev.startNs),
  };
}

function connection(ev: EnrichedEvent, ctx: EcsContext): Obj {
  const s = ev.socket;
  const ending = isEnd(ev.action);
  const exact = new ExactBytes();
  const w = who(ev, exact, ctx.bounds ?? (BOUNDS[0] as Bounds));
  return {
    "@timestamp": isoNs(ev.timeNs),
    ecs: { version: ECS_VERSION },
    event: timedEvent(
      "network",
      ["connection", ending ? "end" : "start"],
      ACTION[ev.action],
      ev.outcome ?? (ev.action === "failed" ? "failure" : "success"),
      ev,
    ),
    process: w.process,
    user: w.user,
    container: w.container,
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
    host: { hostname: ctx.hostname, id: ctx.hostId },
    ssh_outbound: {
      connection_id: ev.id,
      source: ev.source,
      state: ending ? ev.lastState : s.state,
      observed: ev.observed,
      end_window: endWindow(ev.endWindow),
      attribution: ev.attribution,
      fd: s.owner?.fd,
      tid: s.owner?.tid,
      inode: s.inode,
      netns: s.netns,
      detected_by: s.detectedBy,
      client_banner: exact.text(s.banners?.client, "ssh_outbound.client_banner"),
      server_banner: exact.text(s.banners?.server, "ssh_outbound.server_banner"),
      ...w.ours,
      control: ev.control
        ? { master: true, path: exact.text(ev.control.path, "ssh_outbound.control.path") }
        : undefined,
      route: ev.route ? { hop: ev.route.hop, of: ev.route.of } : undefined,
      proxy_for: ev.proxyFor ? { pid: ev.proxyFor.pid } : undefined,
      forwarded_for: ev.forwardedFor
        ? { user: ev.forwardedFor.user, ip: ev.forwardedFor.ip, port: ev.forwardedFor.port }
        : undefined,
      // Last: every string above has been through `exact` by now.
      raw_bytes: exact.result(),
    },
  };
}

/**
 * A session that rode an existing connection (ControlMaster): one record at its end. ECS has no
 * "network" event for it (no packet of its own crossed the network): it is a `session` event.
 */
function sshSession(ev: EnrichedSession, ctx: EcsContext): Obj {
  const exact = new ExactBytes();
  const w = who(ev, exact, ctx.bounds ?? (BOUNDS[0] as Bounds));
  return {
    "@timestamp": isoNs(ev.timeNs),
    ecs: { version: ECS_VERSION },
    event: timedEvent("session", ["end"], "ssh-session", ev.outcome ?? "success", ev),
    process: w.process,
    user: w.user,
    container: w.container,
    host: { hostname: ctx.hostname, id: ctx.hostId },
    ssh_outbound: {
      session_id: ev.id,
      via_connection_id: ev.viaConnectionId,
      control: {
        path: exact.text(ev.session.controlPath, "ssh_outbound.control.path"),
        master_pid: ev.session.masterPid,
      },
      source: ev.source,
      end_window: endWindow(ev.endWindow),
      attribution: ev.attribution,
      ...w.ours,
      raw_bytes: exact.result(),
    },
  };
}

const MONITOR_TYPE: Record<MonitorEvent["action"], string> = {
  "monitor-started": "start",
  "monitor-stopped": "end",
  "monitor-degraded": "change",
  "output-recovered": "change",
  "events-lost": "change",
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
      outcome: ev.action === "monitor-degraded" || ev.action === "events-lost" ? "failure" : "success",
      start: o ? isoNs(o.sinceNs) : ev.loss ? isoNs(ev.loss.sinceNs) : undefined,
      end: o ? isoNs(o.untilNs) : ev.loss ? isoNs(ev.loss.untilNs) : undefined,
    },
    host: { hostname: ctx.hostname, id: ctx.hostId },
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
        outage: o
          ? {
              held: o.held,
              dropped: o.dropped,
              error: o.error,
              dropped_by: o.droppedBy && Object.keys(o.droppedBy).length ? o.droppedBy : undefined,
            }
          : undefined,
        lost: ev.loss ? { stage: ev.loss.stage, count: ev.loss.count } : undefined,
      },
    },
  };
}

/**
 * Connections beyond a user's rate, counted instead of written one by one (see flood.ts). ECS: a
 * network connection event of type `info` for the interval, the user as ECS `user`.
 */
function suppressed(s: SuppressedSummary, ctx: EcsContext): Obj {
  const exact = new ExactBytes();
  return {
    "@timestamp": isoNs(s.timeNs),
    ecs: { version: ECS_VERSION },
    event: {
      kind: "event",
      category: ["network"],
      type: ["connection", "info"],
      action: s.action,
      outcome: "unknown",
      start: isoNs(s.startNs),
      end: isoNs(s.endNs),
    },
    user: s.uid === undefined ? undefined : { id: String(s.uid), name: s.user },
    host: { hostname: ctx.hostname, id: ctx.hostId },
    ssh_outbound: {
      source: s.source,
      suppressed: {
        count: s.count,
        closed: s.outcomes.closed,
        failed: s.outcomes.failed,
        unresolved: s.outcomes.unresolved,
        processes: s.processes.map((p, i) => ({
          pid: p.pid,
          name: exact.text(p.name, `ssh_outbound.suppressed.processes.${i}.name`),
        })),
        process_count: s.processCount,
        destinations: s.destinations.map((d) => ({ ip: d.ip, port: d.port })),
        destination_count: s.destinationCount,
        count_capped: s.countCapped,
      },
      raw_bytes: exact.result(),
    },
  };
}

/** The ECS-aligned object for one record; the JSON Schema in schema/ describes exactly this. */
export function toEcs(r: LogRecord, ctx: EcsContext): Obj {
  const o = isMonitorEvent(r)
    ? monitor(r, ctx)
    : isSession(r)
      ? sshSession(r, ctx)
      : isSuppressed(r)
        ? suppressed(r, ctx)
        : connection(r, ctx);
  return compact(o) ?? {};
}
