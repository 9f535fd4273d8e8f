import { isoNs } from "../clock.ts";
import { endpoint } from "./endpoint.ts";
import { kv } from "./escape.ts";
import {
  type AncestorRecord,
  type EnrichedEvent,
  type EnrichedSession,
  isMonitorEvent,
  isSession,
  isSuppressed,
  type LogRecord,
  type SuppressedSummary,
} from "./record.ts";
import { forwardsList, typedTarget } from "./target.ts";

/**
 * One line per record, `time action key=value…`, grep-friendly. Every value passes through escapeText,
 * so an argv holding a newline, an escape sequence or raw bytes still yields exactly one line.
 */
export function formatText(r: LogRecord): string {
  if (isMonitorEvent(r)) {
    return (
      `${isoNs(r.timeNs)} ${r.action}` +
      kv("version", r.version) +
      kv("pid", r.pid) +
      kv("source", r.source) +
      kv("reason", r.reason) +
      kv("ports", r.ports.join(",")) +
      kv("interval_ms", r.intervalMs) +
      (r.continuity
        ? kv("resumed", r.continuity.resumed) + kv("closed_while_down", r.continuity.closedWhileDown)
        : "") +
      (r.outage
        ? kv("outage_from", isoNs(r.outage.sinceNs)) +
          kv("outage_to", isoNs(r.outage.untilNs)) +
          kv("held", r.outage.held) +
          kv("dropped", r.outage.dropped) +
          kv(
            "dropped_by",
            r.outage.droppedBy && Object.keys(r.outage.droppedBy).length
              ? Object.entries(r.outage.droppedBy)
                  .map(([k, n]) => `${k}=${n}`)
                  .join(",")
              : undefined,
          )
        : "") +
      (r.loss
        ? kv("stage", r.loss.stage) +
          kv("lost", r.loss.count) +
          kv("lost_from", isoNs(r.loss.sinceNs)) +
          kv("lost_to", isoNs(r.loss.untilNs))
        : "") +
      (r.stats
        ? Object.entries(r.stats)
            .map(([k, v]) => kv(k, v))
            .join("")
        : "") +
      "\n"
    );
  }
  if (isSession(r)) return `${isoNs(r.timeNs)} ssh-session${sessionFields(r)}\n`;
  if (isSuppressed(r)) return `${isoNs(r.timeNs)} connections-suppressed${suppressedFields(r)}\n`;
  return `${isoNs(r.timeNs)} connection-${r.action}${connectionFields(r)}\n`;
}

/**
 * The login and the changes of user on the way: `login=alice entry=sshd from=10.0.0.1:51234 ses=3
 * su=alice>root(sudo) unit=… container=…`.
 */
function origin(e: EnrichedEvent | EnrichedSession): string {
  const l = e.login;
  return (
    kv("login", l?.user) +
    kv("entry", l?.entry) +
    kv("from", l?.source ? endpoint(l.source.ip, l.source.port) : undefined) +
    kv("ses", l?.session) +
    kv("su", e.userChanges?.map((c) => `${c.from}>${c.to}(${c.via})`).join(",")) +
    kv("unit", e.place?.unit) +
    kv("container", e.place?.container ? e.place.container.id.slice(0, 12) : undefined)
  );
}

/** Forwards and agent forwarding at a glance: `forwards="L:8080:localhost:80,D:1080" agent=yes`. */
function tunnels(t: EnrichedEvent["target"]): string {
  if (!t) return "";
  const list = forwardsList(t.forwards, t.stdioForward);
  return (
    kv("forwards", list.length ? list.join(",") : undefined) +
    kv("agent", t.agent === undefined ? undefined : t.agent ? "yes" : "no") +
    kv("control_cmd", t.controlCommand)
  );
}

function sessionFields(e: EnrichedSession): string {
  const p = e.process;
  const duration = e.endNs === undefined ? undefined : `${Number(e.endNs - e.startNs) / 1e6}ms`;
  return (
    kv("id", e.id) +
    kv("via", e.viaConnectionId) +
    kv("pid", p?.pid) +
    kv("user", p?.user) +
    origin(e) +
    kv("process", p?.name) +
    kv("target", e.target ? typedTarget(e.target) : undefined) +
    kv("remote_cmd", e.target?.command) +
    tunnels(e.target) +
    kv("duration", duration) +
    kv("outcome", e.outcome) +
    kv("ended_after", e.endWindow ? isoNs(e.endWindow.afterNs) : undefined) +
    kv("control_path", e.session.controlPath) +
    kv("master_pid", e.session.masterPid) +
    kv("source", e.source) +
    kv("cmd", p?.args?.join(" ")) +
    kv("tree", e.ancestry.length ? treeLine(e.ancestry, p?.pid, p?.name) : undefined)
  );
}

function connectionFields(e: EnrichedEvent): string {
  const s = e.socket;
  const p = e.process;
  const duration = e.endNs === undefined ? undefined : `${Number(e.endNs - e.startNs) / 1e6}ms`;
  return (
    kv("id", e.id) +
    kv("pid", p?.pid) +
    kv("user", p?.user ?? e.socketUser?.name) +
    origin(e) +
    kv("process", p?.name) +
    kv("dst", endpoint(s.remote.ip, s.remote.port)) +
    kv("src", s.local && s.local.port !== 0 ? endpoint(s.local.ip, s.local.port) : undefined) +
    kv("target", e.target ? typedTarget(e.target) : undefined) +
    kv("jump", e.target?.jump.length ? e.target.jump.join(",") : undefined) +
    kv("remote_cmd", e.target?.command) +
    tunnels(e.target) +
    kv("control_master", e.control ? (e.control.path ?? "yes") : undefined) +
    kv("route", e.route ? `${e.route.hop}/${e.route.of}` : undefined) +
    kv("proxy_for", e.proxyFor?.pid) +
    kv(
      "forwarded_for",
      e.forwardedFor
        ? `${e.forwardedFor.user}@${endpoint(e.forwardedFor.ip, e.forwardedFor.port)}`
        : undefined,
    ) +
    kv("duration", duration) +
    kv("sent", e.bytesSent) +
    kv("received", e.bytesReceived) +
    kv("state", e.lastState ?? s.state) +
    kv("detected_by", s.detectedBy === "port" ? undefined : s.detectedBy) +
    kv("client_banner", s.banners?.client) +
    kv("server_banner", s.banners?.server) +
    kv("observed", e.observed === "live" ? undefined : e.observed) +
    kv("outcome", e.outcome) +
    kv("ended_after", e.endWindow ? isoNs(e.endWindow.afterNs) : undefined) +
    kv("source", e.source) +
    kv("netns", s.netns) +
    kv("cmd", p?.args?.join(" ")) +
    kv("tree", e.ancestry.length ? treeLine(e.ancestry, p?.pid, p?.name) : undefined)
  );
}

function suppressedFields(s: SuppressedSummary): string {
  const more = (shown: number, all: number) => (all > shown ? `,+${all - shown}` : "");
  return (
    kv("user", s.user) +
    kv("uid", s.uid) +
    kv("count", s.count) +
    kv("closed", s.outcomes.closed || undefined) +
    kv("failed", s.outcomes.failed || undefined) +
    kv("unresolved", s.outcomes.unresolved || undefined) +
    kv("from", isoNs(s.startNs)) +
    kv("to", isoNs(s.endNs)) +
    kv(
      "processes",
      s.processes.map((p) => `${p.name ?? "?"}[${p.pid}]`).join(",") +
        more(s.processes.length, s.processCount),
    ) +
    kv(
      "dsts",
      s.destinations.map((d) => endpoint(d.ip, d.port)).join(",") +
        more(s.destinations.length, s.destinationCount),
    ) +
    kv("capped", s.countCapped ? "yes" : undefined) +
    kv("source", s.source)
  );
}

/**
 * The ancestry on one line, pid 1 first, down to the connecting process: `name[pid] > … > name[pid]`.
 * Names only: the connecting process's argv is in `cmd`, and an ancestor's (a CI runner's, a Java
 * agent's) can be long enough to bury the line.
 */
export function treeLine(ancestry: readonly AncestorRecord[], pid?: number, name?: string): string {
  const parts = ancestry.map((a) => `${a.name}[${a.pid}]`);
  if (pid !== undefined) parts.push(`${name ?? "?"}[${pid}]`);
  return parts.join(" > ");
}
