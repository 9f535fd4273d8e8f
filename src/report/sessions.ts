// One concept in one file (about 330 lines): joining a trail's records into sessions, gaps and notices
// (SessionJoiner), with the row builders it and `list` share.
import { typedTarget } from "../format/target.ts";
import {
  type ConnectionRecord,
  type LoginSummary,
  type MonitorRecord,
  type MuxRecord,
  type ReportRecord,
  type SkipReason,
  toRecord,
  type WhoRecord,
} from "./records.ts";

/**
 * closed/failed: the daemon saw the end (closed also when it found it ended, outcome unknown).
 * unresolved: seen connecting, then gone; whether it failed or was a session shorter than a poll,
 * nobody saw. open: no end in the files, and the daemon that saw the start was still running when
 * they end (it may be open now). unknown: that daemon stopped or died first, so nobody saw the end.
 */
export type Status = "closed" | "failed" | "unresolved" | "open" | "unknown";

export interface Session {
  type: "session";
  id: string;
  host: string;
  /** host.id (the machine id), when the records carry it. */
  hostId?: string;
  status: Status;
  start: string;
  end?: string;
  durationMs?: number;
  user?: string;
  pid?: number;
  process?: string;
  commandLine?: string;
  /** As typed: user@host:port. */
  target?: string;
  targetHost?: string;
  destIp?: string;
  destPort?: number;
  sent?: number;
  received?: number;
  /** Names of the last ancestors and the process: sshd>bash>ssh. */
  ancestry: string;
  observed?: string;
  /** A session over a control master: the id of the master's connection it rode. */
  via?: string;
  /** A connection: how many sessions rode it (ssh-session records naming it). */
  muxSessions?: number;
  /** Tunnels it asked for (L:…, R:…, D:…, W:…), and agent forwarding. */
  forwards?: string;
  agent?: boolean;
  /** Who logged in (ssh_outbound.login), and the changes of user since (sudo, su). */
  login?: LoginSummary;
  changes?: { from: string; to: string; via: string }[];
  /** A connection's flow (network.community_id): a later hop's login names it. */
  communityId?: string;
  targetUser?: string;
  /** The server's software as it said it ("SSH-2.0-OpenSSH_9.2p1 Debian-2"), where the source saw it. */
  serverBanner?: string;
}

/** A time when nobody was watching: between a monitor-stopped (or the last record of a daemon that
 * died) and the next monitor-started; `to` is missing when the files end with the monitor stopped. */
export interface Gap {
  type: "gap";
  host: string;
  hostId?: string;
  from: string;
  to?: string;
  reason: string;
}

/**
 * What the trail holds in aggregate rather than one record per connection: a user's connections
 * beyond its rate (`suppressed`), or events the daemon's source lost (`lost`, their connections
 * checked and repaired from the kernel's tables). Shown among the sessions, like gaps.
 */
export interface Notice {
  type: "suppressed" | "lost";
  host: string;
  hostId?: string;
  from: string;
  to: string;
  count: number;
  user?: string;
  failed?: number;
  destinations?: number;
  stage?: string;
}

const ANCESTORS_SHOWN = 3;

function typed(t: WhoRecord["target"]): string | undefined {
  return t?.host ? typedTarget(t) : undefined;
}

/** The row's who/what, common to a connection and a session over a master. */
function rowOf(r: WhoRecord, status: Status): Session {
  const names = [...r.ancestry.slice(-ANCESTORS_SHOWN), r.process ?? "?"];
  return {
    type: "session",
    id: r.id,
    host: r.host,
    hostId: r.hostId,
    status,
    start: r.start,
    user: r.user,
    pid: r.pid,
    process: r.process,
    commandLine: r.commandLine,
    target: typed(r.target),
    targetHost: r.target?.host,
    ancestry: names.join(">"),
    forwards: r.forwards?.join(","),
    agent: r.agent,
    login: r.login,
    changes: r.changes,
    targetUser: r.target?.user,
  };
}

/** A session as one connection record describes it (open until an end is read). */
export function sessionOf(r: ConnectionRecord): Session {
  const s = rowOf(r, "open");
  s.destIp = r.destIp;
  s.destPort = r.destPort;
  s.observed = r.observed;
  s.communityId = r.communityId;
  s.serverBanner = r.serverBanner;
  return s;
}

/** A session over a control master: complete from its one record. */
export function muxSessionOf(r: MuxRecord): Session {
  const s = rowOf(r, r.outcome === "unknown" ? "unknown" : "closed");
  s.end = r.end;
  s.via = r.via;
  const ms = r.end === undefined ? Number.NaN : Date.parse(r.end) - Date.parse(r.start);
  if (Number.isFinite(ms)) s.durationMs = Math.max(0, ms);
  return s;
}

/**
 * The host a record or session belongs to: its name and its machine id, both, so that two hosts of one
 * name stay apart, and so do two names on one machine id (containers and cloned images share it).
 */
export const hostKey = (r: { host: string; hostId?: string | undefined }): string =>
  r.hostId === undefined ? r.host : `${r.host}|${r.hostId}`;

/**
 * The ids seen end lately, so a record delivered twice, or an open after its close, is taken once. A
 * ring of the last `max`: evicting from the front of a Set that keeps growing is slow in V8 (it walks
 * the deleted entries), so the order is kept here.
 */
class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: (string | undefined)[];
  private at = 0;
  constructor(max: number) {
    this.ring = new Array(max);
  }
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    if (this.ids.has(id)) return;
    const old = this.ring[this.at];
    if (old !== undefined) this.ids.delete(old);
    this.ring[this.at] = id;
    this.at = (this.at + 1) % this.ring.length;
    this.ids.add(id);
  }
}

/**
 * Joins connection records into sessions by connection id, and monitor records into gaps. Sessions
 * are passed on as soon as they end, so memory holds only the open ones: a daemon's ids never
 * continue after it stops, so its open sessions are passed on (unknown) at its monitor-stopped or
 * at the next monitor-started. Hosts are told apart by machine id. A shipper delivers at least once
 * and not always in order: a record whose id and action were seen already is counted as a duplicate
 * and left out, and an open that comes after its close (the last 50,000 ended ids are kept for this)
 * too.
 */
export class SessionJoiner {
  /** Open sessions; an open whose line is not parsed yet is kept as that line (see openedLine). */
  private readonly open = new Map<string, Session | { type: "line"; host: string; line: string }>();
  private readonly ended = new RecentIds(50_000);
  private readonly stopped = new Map<string, MonitorRecord>();
  private readonly running = new Set<string>();
  private readonly lastSeen = new Map<string, string>();
  /** Sessions over each master connection, counted until the connection's row goes out. */
  private readonly muxCount = new Map<string, number>();

  constructor(
    private readonly out: (item: Session | Gap | Notice) => void,
    private readonly skipped: (reason: SkipReason) => void = () => {},
  ) {}

  /** A connection-opened line, parsed only if its session never closes. */
  openedLine(id: string, host: string, time: string, line: string): void {
    if (this.ended.has(id) || this.open.has(id)) {
      this.skipped("duplicate");
      return;
    }
    // `host` is the record's host key (machine id, else name), as hostKey gives it.
    this.open.set(id, { type: "line", host, line });
    this.lastSeen.set(host, time);
  }

  /** The session of an open entry, parsing its line now if needed (undefined: the line is bad). */
  private session(entry: Session | { type: "line"; line: string }): Session | undefined {
    if (entry.type === "session") return entry;
    const r = toRecord(entry.line, true);
    if (typeof r === "string" || r.kind !== "connection") {
      this.skipped(typeof r === "string" ? r : "not-ours");
      return undefined;
    }
    return { ...sessionOf(r), status: "open" };
  }

  push(r: ReportRecord): void {
    if (r.kind === "monitor") this.monitor(r);
    else if (r.kind === "suppressed") {
      const { host, hostId, user, from, to, count, failed, destinations } = r;
      this.out({ type: "suppressed", host, hostId, user, from, to, count, failed, destinations });
    } else if (r.kind === "mux") this.mux(r);
    else this.connection(r);
    this.lastSeen.set(hostKey(r), r.time);
  }

  /**
   * The files are done: what is still open stays open, unless its host's daemon had stopped by then
   * (nobody was watching: unknown).
   */
  end(): void {
    for (const entry of this.open.values()) {
      const s = this.session(entry);
      if (s) this.emit({ ...s, status: this.stopped.has(hostKey(s)) ? "unknown" : "open" });
    }
    this.open.clear();
    for (const stop of this.stopped.values()) {
      this.out({ ...gapHost(stop), type: "gap", from: stop.time, reason: stopReason(stop) });
    }
  }

  private monitor(r: MonitorRecord): void {
    if (r.action === "events-lost" && r.lost) {
      const { count, stage, from, to } = r.lost;
      this.out({ type: "lost", host: r.host, hostId: r.hostId, from, to, count, stage });
      return;
    }
    if (r.action !== "monitor-started" && r.action !== "monitor-stopped") return;
    const key = hostKey(r);
    if (r.action === "monitor-started") {
      const stop = this.stopped.get(key);
      const last = this.lastSeen.get(key);
      if (stop) {
        this.out({ ...gapHost(r), type: "gap", from: stop.time, to: r.time, reason: stopReason(stop) });
      } else if (this.running.has(key) && last) {
        this.out({
          ...gapHost(r),
          type: "gap",
          from: last,
          to: r.time,
          reason: "no monitor-stopped: the daemon was killed or crashed after its last record",
        });
      }
      this.stopped.delete(key);
      this.running.add(key);
      // A daemon with a state file continues its last run's connections (same ids) or ends them
      // (closed-while-down): they stay open here. Without one, nobody will ever end them.
      if (!r.continuity) this.flush(key);
    } else {
      this.stopped.set(key, r);
      this.running.delete(key);
    }
  }

  private flush(key: string): void {
    for (const [id, entry] of this.open) {
      if ((entry.type === "line" ? entry.host : hostKey(entry)) !== key) continue;
      this.open.delete(id);
      const s = this.session(entry);
      if (s) this.emit({ ...s, status: "unknown" });
    }
  }

  private mux(r: MuxRecord): void {
    if (this.ended.has(`mux:${r.id}`)) {
      this.skipped("duplicate");
      return;
    }
    this.ended.add(`mux:${r.id}`);
    if (r.via !== undefined) this.muxCount.set(r.via, (this.muxCount.get(r.via) ?? 0) + 1);
    this.out(muxSessionOf(r));
  }

  /** A connection's row goes out with the sessions that rode it so far. */
  private emit(s: Session): void {
    const n = this.muxCount.get(s.id);
    if (n !== undefined) s.muxSessions = n;
    this.muxCount.delete(s.id);
    this.out(s);
  }

  private connection(r: ConnectionRecord): void {
    const known = this.open.get(r.id);
    // Seen ended already (a close delivered twice, an open after its close), or opened twice.
    if (this.ended.has(r.id) || (r.action === "opened" && known !== undefined)) {
      this.skipped("duplicate");
      return;
    }
    const s = known?.type === "session" ? known : sessionOf(r);
    if (r.action === "opened") {
      s.status = "open";
      this.open.set(r.id, s);
      return;
    }
    this.ended.add(r.id);
    // A close carries the whole picture too: a session whose open is in a file no longer here
    // is complete from its close alone.
    this.open.delete(r.id);
    s.status = r.action;
    s.end = r.end ?? r.time;
    const ms = Date.parse(s.end) - Date.parse(s.start);
    if (Number.isFinite(ms)) s.durationMs = Math.max(0, ms);
    s.sent = r.sent;
    s.received = r.received;
    s.communityId ??= r.communityId;
    s.serverBanner ??= r.serverBanner;
    this.emit(s);
  }
}

function gapHost(r: MonitorRecord): { host: string; hostId?: string } {
  return r.hostId === undefined ? { host: r.host } : { host: r.host, hostId: r.hostId };
}

function stopReason(stop: MonitorRecord): string {
  return `monitor stopped${stop.reason ? ` (${stop.reason})` : ""}`;
}
