import { boundArgs } from "../bytes.ts";
import { clock } from "../clock.ts";
import type { Owner } from "../sources/types.ts";
import type { SessionEvent } from "../track/sessions.ts";
import { type ConnectionEvent, isEnd } from "../track/tracker.ts";
import type { Place } from "./cgroup.ts";
import { communityId } from "./community-id.ts";
import { isSshServer, sessionOrigin } from "./forwarded.ts";
import { type Login, Logins } from "./login.ts";
import { keptFacts, type ProcessFacts, processAgeNs } from "./process.ts";
import { ProcessCache } from "./processes.ts";
import { isProxyOf } from "./proxy.ts";
import { type Route, servedBy } from "./route.ts";
import type { SshTarget } from "./ssh-argv.ts";
import { Users } from "./users.ts";

export type { ConnectionEvent } from "../track/tracker.ts";

const endpointKey = (ip: string, port: number): string => `${ip}|${port}`;

export interface ProcessRecord {
  pid: number;
  name?: string;
  ppid?: number;
  executable?: string;
  executableDeleted?: boolean;
  args?: string[];
  /** The whole argv's size and count, when `args` is a prefix of it. */
  argsBytes?: number;
  argsCount?: number;
  startNs?: bigint;
  uid?: number;
  user?: string;
  euid?: number;
  euser?: string;
}

export interface AncestorRecord {
  pid: number;
  name: string;
  /** At most ANCESTOR_ARGV_KEEP bytes of the argv; argsBytes is the whole size when cut. */
  args: string[];
  argsBytes?: number;
  user: string;
  startNs: bigint;
}

/**
 * How well the process is known: `complete`, read from /proc while it lived; `kept`, it had exited
 * before we could look (a connection made while the daemon was down), and the eBPF probe had kept its
 * exec: its argv as given to exec (a prefix of 512 bytes), uid, parent and start, and its ancestors' as
 * far as the probe kept them; `partial`, it had exited, so only what the source saw (pid, and from the
 * kernel its name, uid and parent); `none`, the socket's owner was not found (not ours to inspect, or
 * gone before the fd scan).
 */
export type Attribution = "complete" | "kept" | "partial" | "none";

export interface EnrichedEvent extends ConnectionEvent, Origin {
  process?: ProcessRecord;
  parent?: ProcessRecord;
  /** From pid 1 down to the direct parent. */
  ancestry: AncestorRecord[];
  target?: SshTarget;
  /** For a ProxyCommand's connection: the SSH client whose session it carries (`target` is that client's). */
  proxyFor?: { pid: number };
  /** For a connection made for another ssh's session (ProxyJump, or our sshd forwarding one): which hop. */
  route?: Route;
  /** The connection of a control master: said by its argv, or learnt when a session rode it. */
  control?: { master: true; path?: string };
  /** For a connection our sshd opened for a forward: the session's user and where it came from. */
  forwardedFor?: { user: string; ip: string; port: number };
  communityId?: string;
  attribution: Attribution;
  /** With attribution `none`: the socket's owner as the kernel gives it (no process was found). */
  socketUser?: { uid: number; name: string };
}

/** The login behind a process (see login.ts): its uid named, its leader as a record shows a process. */
export interface LoginRecord extends Omit<Login, "leader"> {
  user?: string;
  /** The login's first process that is not its entry program: its shell (ECS's entry leader). */
  leader?: ProcessRecord;
}

/** Who the process is, beyond its own facts: its login, the changes of user since, where it runs. */
export interface Origin {
  login?: LoginRecord;
  /** From the login's user down to the process's (sudo, su), oldest first. */
  userChanges?: { pid: number; from: string; to: string; via: string }[];
  place?: Place;
  /** The leader of its POSIX session (setsid): a login shell, tmux's shell, a daemon. */
  sessionLeader?: ProcessRecord;
}

type Facts = Omit<EnrichedEvent, keyof ConnectionEvent>;

/**
 * How much of an ancestor's (and the parent's) argv a connection keeps while it is open: what a
 * record shows of them (format's ANCESTOR_ARGV_MAX). Cut when gathered, so the memory an open
 * connection holds is bounded whatever command lines its ancestors were given.
 */
export const ANCESTOR_ARGV_KEEP = 1024;

/** How much younger than its connection a process may seem and still be its owner (see whoIs). */
const REUSE_SLACK_NS = 100_000_000n;

function keptArgs(p: ProcessFacts, max: number): { args: string[]; argsBytes?: number } {
  const b = boundArgs(p.args, max, p.argsBytes);
  return b.cut ? { args: b.args, argsBytes: b.cut.bytes } : { args: b.args };
}

/** A session over a master's connection, with who ran it and what they typed. */
export interface EnrichedSession extends SessionEvent, Origin {
  process?: ProcessRecord;
  parent?: ProcessRecord;
  ancestry: AncestorRecord[];
  target?: SshTarget;
  attribution: Attribution;
}

/**
 * Adds who and what to each connection event. Facts are gathered once per connection, at the first
 * event (the attempt, when the process most likely still lives), and repeated on its later events, so
 * each record stands on its own for a reader who sees only the close.
 */
export class Enricher {
  private readonly byId = new Map<string, Facts>();
  private readonly sessions = new Map<string, Facts>();
  /** Open connections with a typed target, by local endpoint: our sshd's forwards are matched to them. */
  private readonly byLocal = new Map<string, { target: SshTarget; route?: Route }>();
  readonly processes = new ProcessCache();
  readonly users = new Users();
  readonly logins = new Logins((pid) => this.processes.get(pid));

  enrich(ev: ConnectionEvent): EnrichedEvent | undefined {
    let facts = this.byId.get(ev.id);
    if (!facts) {
      facts = this.gather(ev);
      this.byId.set(ev.id, facts);
    }
    const local = ev.socket.local;
    const here = local && local.port !== 0 ? endpointKey(local.ip, local.port) : undefined;
    if (isEnd(ev.action)) {
      this.byId.delete(ev.id);
      if (here) this.byLocal.delete(here);
    } else if (here && facts.target) {
      this.byLocal.set(
        here,
        facts.route ? { target: facts.target, route: facts.route } : { target: facts.target },
      );
    }
    if (ev.action === "attempted") return undefined;
    const out: EnrichedEvent = { ...ev, ...facts };
    if (local && local.port !== 0 && facts.communityId === undefined) {
      // The source port is known from the handshake on; the hash needs it.
      out.communityId = communityId(local, ev.socket.remote);
      facts.communityId = out.communityId;
    }
    return out;
  }

  /** Facts are read at the session's start (the client most likely lives), written at its end. */
  enrichSession(ev: SessionEvent): EnrichedSession | undefined {
    let f = this.sessions.get(ev.id);
    if (!f) {
      f = this.whoIs(ev.session.owner, undefined, ev.startNs).facts;
      this.sessions.set(ev.id, f);
    }
    if (ev.action === "session-started") return undefined;
    this.sessions.delete(ev.id);
    const out: EnrichedSession = { ...ev, ancestry: f.ancestry, attribution: f.attribution };
    if (f.process) out.process = f.process;
    if (f.parent) out.parent = f.parent;
    if (f.target) out.target = f.target;
    if (f.login) out.login = f.login;
    if (f.userChanges) out.userChanges = f.userChanges;
    if (f.place) out.place = f.place;
    if (f.sessionLeader) out.sessionLeader = f.sessionLeader;
    return out;
  }

  /** A session rode connection `id`: it is a control master's, and `path` is where it listens. */
  markMaster(id: string, path: string | undefined): void {
    const facts = this.byId.get(id);
    if (!facts) return;
    facts.control = path === undefined ? { master: true, ...facts.control } : { master: true, path };
  }

  private gather(ev: ConnectionEvent): Facts {
    const { facts, live, lineage } = this.whoIs(ev.socket.owner, ev.socket.uid, ev.startNs);
    if (!live) return facts;
    const parent = lineage.at(-1);
    const master = facts.target?.controlMaster?.toLowerCase();
    if (master !== undefined && master !== "no") {
      facts.control = { master: true };
      if (facts.target?.controlPath !== undefined) facts.control.path = facts.target.controlPath;
    }
    if (facts.target) {
      const served = servedBy(live, facts.target, lineage, (p) => this.processes.target(p));
      if (served) {
        facts.target = served.target;
        facts.route = served.route;
        facts.proxyFor = { pid: served.proxyFor };
      }
      return facts;
    }
    if (isSshServer(live.name)) {
      const origin = sessionOrigin(live.pid, ev.socket.inode);
      // The session's process runs as the user who logged in (privilege separation).
      if (origin) facts.forwardedFor = { user: this.users.name(live.uid), ip: origin.ip, port: origin.port };
      // A hop of a route that passes through us: the connection that came in is one of ours.
      const from = origin && this.byLocal.get(endpointKey(origin.ip, origin.port));
      if (from) {
        facts.target = from.target;
        facts.route = { hop: (from.route?.hop ?? 1) + 1, of: from.route?.of ?? 2 };
      }
    } else if (parent) {
      // A ProxyCommand (nc, socat, a cloud session helper): the session it carries is its parent's.
      const served = this.processes.target(parent);
      if (served && isProxyOf(live.pid, parent.pid)) {
        facts.target = served;
        facts.proxyFor = { pid: parent.pid };
      }
    }
    return facts;
  }

  /**
   * The process, its ancestry and typed target, read from /proc while it lives (`complete`), else
   * what the source saw of it (`partial`), else nothing (`none`). `lineage` is the ancestors' facts
   * as read (pid 1 down to the parent), for callers that look further up, without reading them again.
   */
  whoIs(
    owner: Owner | undefined,
    socketUid?: number,
    atNs?: bigint,
  ): { facts: Facts; live?: ProcessFacts; lineage: ProcessFacts[] } {
    if (!owner) {
      const facts: Facts = { ancestry: [], attribution: "none" };
      if (socketUid !== undefined) facts.socketUser = { uid: socketUid, name: this.users.name(socketUid) };
      return { facts, lineage: [] };
    }
    const live = this.processes.get(owner.pid);
    // A pid reused since: the kernel's name for the task at connect() differs, or the process now at
    // that pid is younger than the connection (ages by the kernel's clock since boot, good to 10 ms;
    // looked at only when enrichment came late, as for a connection the flood gate held: right after
    // the connect a reuse cannot be told by time).
    const late = atNs === undefined ? 0n : clock.nowNs() - atNs;
    const reused =
      live !== undefined &&
      ((owner.comm !== undefined && owner.comm !== live.name) ||
        (late > REUSE_SLACK_NS && (processAgeNs(live) ?? late) + REUSE_SLACK_NS < late));
    if (live && !reused) return this.known(live, this.processes.ancestry(live), "complete");
    // Gone: what the kernel kept of its exec, when that is this process (same pid and name).
    const kept = owner.kept;
    if (kept?.[0] && kept[0].pid === owner.pid && (owner.comm === undefined || owner.comm === kept[0].comm)) {
      const chain = kept.map(keptFacts);
      const self = chain[0] as ProcessFacts;
      const oldest = chain[chain.length - 1] as ProcessFacts;
      // Above the oldest kept, the ancestors still alive, from /proc.
      const above = oldest.ppid > 1 ? this.processes.ancestry(oldest) : [];
      return this.known(self, [...above, ...chain.slice(1).reverse()], "kept");
    }
    const process: ProcessRecord = { pid: owner.pid };
    if (owner.comm !== undefined) process.name = owner.comm;
    // A parent pid of 0 is the kernel's "not known" (a task in a pid namespace below the daemon's).
    const ppid = owner.ppid !== undefined && owner.ppid > 0 ? owner.ppid : undefined;
    if (ppid !== undefined) process.ppid = ppid;
    const uid = owner.uid ?? socketUid;
    if (uid !== undefined) {
      process.uid = uid;
      process.user = this.users.name(uid);
    }
    const facts: Facts = { process, ancestry: [], attribution: "partial" };
    if (ppid !== undefined) {
      facts.parent = { pid: ppid };
      if (owner.parentComm !== undefined) facts.parent.name = owner.parentComm;
    }
    return { facts, lineage: [] };
  }

  /** The facts of a process known by /proc or by the probe's exec record, with its ancestry. */
  private known(
    p: ProcessFacts,
    ancestry: ProcessFacts[],
    attribution: Attribution,
  ): { facts: Facts; live: ProcessFacts; lineage: ProcessFacts[] } {
    const parent = ancestry[ancestry.length - 1];
    const facts: Facts = {
      process: this.record(p),
      ancestry: ancestry.map((a) => this.ancestor(a)),
      attribution,
    };
    if (parent) facts.parent = this.relative(parent);
    const target = this.processes.target(p);
    if (target) facts.target = target;
    // What the probe kept of an exec says nothing of a cgroup, and of a login only when it read one.
    if (attribution === "complete" || p.auditSession !== undefined)
      Object.assign(facts, this.origin(p, ancestry));
    return { facts, live: p, lineage: ancestry };
  }

  /** The login behind `p`, the changes of user since, where it runs and its session's leader. */
  private origin(p: ProcessFacts, ancestry: ProcessFacts[]): Origin {
    const chain = [...ancestry, p];
    const out: Origin = {};
    const found = this.logins.of(chain);
    if (found) {
      const { login: l, changes, place } = found;
      // The login as found, with a name for its uid and its leader as a record shows a process.
      const { leader, ...rest } = l;
      const login: LoginRecord = rest;
      if (l.uid !== undefined) login.user = this.users.name(l.uid);
      if (leader) login.leader = this.relative(leader);
      out.login = login;
      if (changes.length > 0) {
        out.userChanges = changes.map((c) => ({
          pid: c.pid,
          from: this.users.name(c.from),
          to: this.users.name(c.to),
          via: c.via,
        }));
      }
      if (place.unit !== undefined || place.container) out.place = place;
    }
    if (p.sid !== undefined && p.sid > 0) {
      const leader = chain.find((q) => q.pid === p.sid) ?? this.processes.get(p.sid);
      if (leader) out.sessionLeader = this.relative(leader);
    }
    return out;
  }

  /**
   * An ancestor as a connection's record shows it. Made once per process (the cache holds each
   * process's facts by pid and start): the shell or the CI runner above a thousand connections is
   * not cut and named a thousand times. Made again if its user's name changed since.
   */
  private ancestor(a: ProcessFacts): AncestorRecord {
    const user = this.users.name(a.uid);
    let r = this.ancestors.get(a);
    if (r?.user !== user) {
      r = { pid: a.pid, name: a.name, ...keptArgs(a, ANCESTOR_ARGV_KEEP), user, startNs: a.startNs };
      this.ancestors.set(a, r);
    }
    return r;
  }

  /** A parent or a leader (argv cut as an ancestor's), made once per process as `ancestor`. */
  private relative(p: ProcessFacts): ProcessRecord {
    const r = this.relatives.get(p);
    if (r && r.user === this.users.name(p.uid) && r.euser === this.users.name(p.euid)) return r;
    const made = this.record(p, ANCESTOR_ARGV_KEEP);
    this.relatives.set(p, made);
    return made;
  }

  /** Records shared by every connection below a process; read only downstream. */
  private readonly ancestors = new WeakMap<ProcessFacts, AncestorRecord>();
  private readonly relatives = new WeakMap<ProcessFacts, ProcessRecord>();

  /** `keep`: bytes of argv kept (the connecting process keeps all that was read). */
  private record(p: ProcessFacts, keep?: number): ProcessRecord {
    const argv = keep === undefined ? { args: p.args, argsBytes: p.argsBytes } : keptArgs(p, keep);
    const r: ProcessRecord = {
      pid: p.pid,
      name: p.name,
      ppid: p.ppid,
      args: argv.args,
      startNs: p.startNs,
      uid: p.uid,
      user: this.users.name(p.uid),
      euid: p.euid,
      euser: this.users.name(p.euid),
    };
    if (argv.argsBytes !== undefined) r.argsBytes = argv.argsBytes;
    if (p.argsCount !== undefined) r.argsCount = p.argsCount;
    if (p.executable !== undefined) r.executable = p.executable;
    if (p.executableDeleted) r.executableDeleted = true;
    return r;
  }
}
