import { isoNs } from "../clock.ts";
import type { EnrichedEvent, EnrichedSession } from "../format/record.ts";
import { forwardsList } from "../format/target.ts";
import type { WhoRecord } from "./records.ts";
import { muxSessionOf, type Session, sessionOf } from "./sessions.ts";

/**
 * A row of `list`: an open connection, or a session over a control master, from the record the
 * pipeline made (not its ECS rendering read back), as the report's table shows such a record. START is
 * when the client process started: a connection's start is only when `list` first saw it.
 */
export function liveRow(
  r: EnrichedEvent | EnrichedSession,
  host: { hostname: string; id?: string },
): Session {
  const p = r.process;
  const t = r.target;
  const who: WhoRecord = {
    id: r.id,
    time: isoNs(r.timeNs),
    start: isoNs(p?.startNs ?? r.startNs),
    host: host.hostname,
    user: p?.user,
    pid: p?.pid,
    process: p?.name,
    commandLine: p?.args?.join(" "),
    target: t ? { client: t.client, user: t.user, host: t.host, port: t.port } : undefined,
    ancestry: r.ancestry.map((a) => a.name),
  };
  if (host.id !== undefined) who.hostId = host.id;
  const forwards = t ? forwardsList(t.forwards, t.stdioForward) : [];
  if (forwards.length) who.forwards = forwards;
  if (t?.agent !== undefined) who.agent = t.agent;
  if ("session" in r) {
    const row = muxSessionOf({ ...who, kind: "mux", via: r.viaConnectionId });
    return { ...row, status: "open", end: undefined, durationMs: undefined };
  }
  return sessionOf({
    ...who,
    kind: "connection",
    action: "opened",
    destIp: r.socket.remote.ip,
    destPort: r.socket.remote.port,
    observed: r.observed,
  });
}
