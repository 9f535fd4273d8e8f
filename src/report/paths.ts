/**
 * Paths across hosts: who went where through which hosts. A connection's record names its flow
 * (network.community_id); a connection made on the host that flow reached names the same flow as the
 * one its login came in on (ssh_outbound.login.community_id: Community ID is the same from both ends).
 * Joining the two over many hosts' trails gives each path from the person's first host to the last,
 * one line (or one JSON object) per path. A connection with no end in the files is `open` here (the
 * rest of report also tells whether its daemon was still watching).
 */
import { escapeText } from "../format/escape.ts";
import { type Filters, filtering, matches } from "./filters.ts";
import { shortTime } from "./output.ts";
import type { ConnectionAction, ConnectionRecord, LoginSummary } from "./records.ts";
import type { Session, Status } from "./sessions.ts";

/** One connection of a path: made on `host` by `user` (who logged in as `login`), to `to`. */
export interface PathHop {
  connectionId: string;
  host: string;
  hostId?: string;
  start: string;
  end?: string;
  status: Status;
  /** Who logged in on `host` (the login behind the process). */
  login?: string;
  /** The process's user, and what changed the login's user into it (sudo, su). */
  user?: string;
  via?: string;
  /** How the login on `host` began (sshd, terminal, cron, systemd). */
  entry?: string;
  /** Where it went: the next hop's host when its records are here, else the host as typed or the address. */
  to: { host: string; user?: string; ip?: string; port?: number };
}

export interface Path {
  type: "path";
  start: string;
  end?: string;
  /** Who logged in where the path begins. */
  person?: string;
  /** The first hop's login came through sshd from here, but no record in these files went out from it. */
  enteredFrom?: { ip: string; port?: number };
  hops: PathHop[];
  /** The connections from the outermost in. */
  connectionIds: string[];
  /** The user on each host along the path: the person, then who each hop arrived as. */
  users: string[];
}

/**
 * What a path needs of one connection, from its records (opened, closed): read by a field scanner
 * (path-scan.ts) rather than parsed whole, as a collector's files hold millions of them.
 */
export interface PathConn {
  id: string;
  action: ConnectionAction;
  start: string;
  end?: string;
  host: string;
  hostId?: string;
  user?: string;
  process?: string;
  communityId?: string;
  login?: LoginSummary;
  /** What made the last change of user (sudo, su). */
  via?: string;
  targetHost?: string;
  targetUser?: string;
  destIp?: string;
  destPort?: number;
}

/** A connection's end record, with what only its opening record told (its flow). */
export function ended(opened: PathConn, end: PathConn): PathConn {
  return end.communityId === undefined && opened.communityId !== undefined
    ? { ...end, communityId: opened.communityId }
    : end;
}

interface Node {
  c: PathConn;
  next?: Node[];
  linked?: boolean;
}

const byStart = (a: Node, b: Node): number =>
  a.c.start < b.c.start ? -1 : a.c.start > b.c.start ? 1 : a.c.id < b.c.id ? -1 : a.c.id > b.c.id ? 1 : 0;

/** A time in ms, for the rare flow seen more than once (dates are not parsed for every connection). */
const ms = (iso: string | undefined, absent: number): number => {
  const t = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isNaN(t) ? absent : t;
};

const statusOf = (c: PathConn): Status => (c.action === "opened" ? "open" : c.action);

const hopOf = (n: Node, next: Node | undefined): PathHop => {
  const c = n.c;
  const to: PathHop["to"] = {
    host: next ? next.c.host : (c.targetHost ?? c.destIp ?? "?"),
    // Who it arrived as: the next host's login when its records are here, else as typed (OpenSSH's
    // default is the local user's name).
    user: next ? (next.c.login?.user ?? next.c.user) : (c.targetUser ?? c.user),
  };
  if (c.destIp !== undefined) to.ip = c.destIp;
  if (c.destPort !== undefined) to.port = c.destPort;
  const hop: PathHop = { connectionId: c.id, host: c.host, start: c.start, status: statusOf(c), to };
  if (c.hostId !== undefined) hop.hostId = c.hostId;
  if (c.end !== undefined) hop.end = c.end;
  if (c.login?.user !== undefined) hop.login = c.login.user;
  if (c.user !== undefined) hop.user = c.user;
  if (c.via !== undefined) hop.via = c.via;
  if (c.login?.entry !== undefined) hop.entry = c.login.entry;
  return hop;
};

/** The hop as a report row, for the filters report's other modes use. */
const rowOf = (c: PathConn): Session => ({
  type: "session",
  id: c.id,
  host: c.host,
  hostId: c.hostId,
  status: statusOf(c),
  start: c.start,
  end: c.end,
  user: c.user,
  login: c.login,
  process: c.process,
  targetHost: c.targetHost,
  target: c.targetHost,
  destIp: c.destIp,
  destPort: c.destPort,
  ancestry: "",
});

/**
 * Collects the connections of many hosts' records and joins them into paths at the end. Cost: one
 * entry per connection, one lookup per connection whose login came in on a flow, then one walk:
 * linear in the records read.
 */
export class PathJoiner {
  private readonly byId = new Map<string, Node>();
  private readonly byFlow = new Map<string, Node | Node[]>();
  /** Records of a connection seen again (a shipper's duplicate, or its close after its open). */
  merged = 0;

  add(c: PathConn): void {
    const had = this.byId.get(c.id);
    if (had) {
      this.merged++;
      // The end, once read, is kept, whichever came first (threads read the files' parts side by
      // side); facts the end's record lacked are taken from the opening one.
      const opened = had.c.action === "opened";
      if (opened === (c.action === "opened")) return;
      const flow = had.c.communityId;
      had.c = opened ? ended(had.c, c) : ended(c, had.c);
      if (flow === undefined) this.index(had);
      return;
    }
    const n: Node = { c };
    this.byId.set(c.id, n);
    this.index(n);
  }

  private index(n: Node): void {
    const flow = n.c.communityId;
    if (flow === undefined) return;
    const had = this.byFlow.get(flow);
    if (had === undefined) this.byFlow.set(flow, n);
    else if (Array.isArray(had)) {
      if (!had.includes(n)) had.push(n);
    } else if (had !== n) this.byFlow.set(flow, [had, n]);
  }

  /** Every path whose hops include one that matches `filters`, by the time it began. */
  *paths(filters: Filters): Generator<Path> {
    const filtered = filtering(filters);
    const nodes = [...this.byId.values()];
    for (const n of nodes) {
      const flow = n.c.login?.communityId;
      if (flow === undefined) continue;
      const from = nearest(this.byFlow.get(flow), n);
      if (from === undefined || from === n) continue;
      if (from.next) from.next.push(n);
      else from.next = [n];
      n.linked = true;
    }
    // By start (the daemon's ISO times, one layout, UTC, sort as text), then by id: the same order
    // whatever order the records were read in.
    const roots = nodes.filter((n) => !n.linked).sort(byStart);
    for (const n of nodes) if (n.next && n.next.length > 1) n.next.sort(byStart);
    for (const root of roots) {
      // Depth first, without recursion: one path per connection that leads nowhere further.
      const stack: Node[][] = [[root]];
      while (stack.length > 0) {
        const chain = stack.pop() as Node[];
        const last = chain[chain.length - 1] as Node;
        if (last.next?.length) {
          for (let i = last.next.length - 1; i >= 0; i--) {
            const child = last.next[i] as Node;
            // A flow seen twice in a chain would be a loop (a reused Community ID): the chain ends.
            if (!chain.includes(child)) stack.push([...chain, child]);
          }
          continue;
        }
        if (!filtered || chain.some((h) => matches(rowOf(h.c), filters))) yield pathOf(chain);
      }
    }
  }
}

/**
 * Of the connections with one flow, the one going on when `n` began (a flow's Community ID can repeat
 * when a source port is reused): the one whose time is nearest `n`'s start, the hosts' clocks being
 * only roughly the same.
 */
function nearest(candidates: Node | Node[] | undefined, n: Node): Node | undefined {
  if (candidates === undefined || !Array.isArray(candidates)) return candidates;
  let best: Node | undefined;
  let bestGap = Number.POSITIVE_INFINITY;
  const at = ms(n.c.start, 0);
  for (const c of candidates) {
    const [from, to] = [ms(c.c.start, 0), ms(c.c.end, Number.POSITIVE_INFINITY)];
    const gap = at < from ? from - at : Math.max(0, at - to);
    if (gap < bestGap) {
      best = c;
      bestGap = gap;
    }
  }
  return best;
}

function pathOf(chain: readonly Node[]): Path {
  const hops = chain.map((n, i) => hopOf(n, chain[i + 1]));
  const first = (chain[0] as Node).c;
  const ends = hops.map((h) => h.end);
  const path: Path = {
    type: "path",
    start: first.start,
    hops,
    connectionIds: hops.map((h) => h.connectionId),
    users: [first.login?.user ?? first.user ?? "?", ...hops.map((h) => h.to.user ?? "?")],
  };
  // The latest end (ISO times of one layout sort as text); none while a hop is open.
  if (ends.every((e) => e !== undefined)) path.end = (ends as string[]).sort().at(-1) as string;
  const person = first.login?.user ?? first.user;
  if (person !== undefined) path.person = person;
  // The first hop's login came in through sshd from an address whose record is not here: another
  // network's host, or a NAT that rewrote the flow (so its Community ID is not the one sent).
  if (first.login?.ip !== undefined) {
    path.enteredFrom = { ip: first.login.ip };
    if (first.login.port !== undefined) path.enteredFrom.port = first.login.port;
  }
  return path;
}

/** A connection record as `report` reads it otherwise (a line the scanner could not read). */
export function pathConnOf(r: ConnectionRecord): PathConn {
  const c: PathConn = { id: r.id, action: r.action, start: r.start, host: r.host };
  if (r.end !== undefined) c.end = r.end;
  else if (r.action !== "opened") c.end = r.time;
  if (r.hostId !== undefined) c.hostId = r.hostId;
  if (r.user !== undefined) c.user = r.user;
  if (r.process !== undefined) c.process = r.process;
  if (r.communityId !== undefined) c.communityId = r.communityId;
  if (r.login !== undefined) c.login = r.login;
  const via = r.changes?.at(-1)?.via;
  if (via !== undefined) c.via = via;
  if (r.target?.host !== undefined) c.targetHost = r.target.host;
  if (r.target?.user !== undefined) c.targetUser = r.target.user;
  if (r.destIp !== undefined) c.destIp = r.destIp;
  if (r.destPort !== undefined) c.destPort = r.destPort;
  return c;
}

/**
 * `START → END  alice laptop → bastion (alice) → db1 (root via sudo)`: the person and the host the
 * path begins on (and where that login came from when its record is not here), then each host it
 * reached with the user it arrived as, and what changed the user before going on (sudo, su).
 */
export function pathLine(p: Path): string {
  const when = `${shortTime(p.start)} → ${p.end ? shortTime(p.end) : "open"}`;
  const first = p.hops[0];
  const begin =
    `${escapeText(p.person ?? "?")} ${escapeText(first?.host ?? "?")}` +
    (p.enteredFrom ? ` (entered from ${escapeText(p.enteredFrom.ip)})` : "");
  const steps = p.hops.map(
    (h) =>
      `${escapeText(h.to.host)} (${escapeText(h.to.user ?? "?")}${h.via ? ` via ${escapeText(h.via)}` : ""})`,
  );
  return `${when}  ${[begin, ...steps].join(" → ")}`;
}
