import { listPids, PROC, readComm, readStat, readText } from "../proc-io.ts";
import { UserBuckets } from "../user-buckets.ts";
import { clientSockets } from "./client-sockets.ts";
import { lookupUnix } from "./procfs/unix-diag.ts";
import type { MuxSession, Observation, Owner } from "./types.ts";

/**
 * Sessions multiplexed over an existing SSH connection (ControlMaster/ControlPath, Ansible's default):
 * a later `ssh host cmd` opens no TCP connection; it connects to the master's unix socket and the
 * master carries its session. Such a client is found by the unix socket it holds: the other end
 * (netlink unix_diag's peer) is held by another SSH client, the master, whose TCP connection the
 * session rides. The master's side of the pair carries the control path as its name (an accepted unix
 * socket takes its listener's address).
 */

/**
 * Finding the master behind a control path the kernel saw a client connect to reads the host's unix
 * sockets and processes: that search runs at most this often per user (a bucket of SEARCH_BURST), and
 * its answer is kept per path, so a user connecting a process named like a client to unix sockets in
 * a loop cannot make us read the host's tables for every connect (issue 19, attack 3). A path that is
 * not a control socket (ssh-agent's, say) is remembered as such for NEGATIVE_TTL_NS.
 */
const SEARCHES_PER_SECOND = 5;
const SEARCH_BURST = 20;
const NEGATIVE_TTL_NS = 10_000_000_000n;
/** Paths remembered at once; the oldest are forgotten first. */
const PATHS_MAX = 4096;

/** unix_diag lookups one poll may make to find the peers of undecided clients' sockets. */
const PEER_LOOKUPS = 64;

/** A client decides within this long after it is first seen whether it rides a master. */
const DECIDE_WITHIN_NS = 3_000_000_000n;

function keyOf(pid: number): string | undefined {
  const st = readStat(pid);
  return st === undefined ? undefined : `mux:${pid}:${st.startTicks}`;
}

function ownerOf(pid: number): Owner {
  const st = readStat(pid);
  const owner: Owner = { pid };
  if (st) {
    owner.comm = st.comm;
    owner.ppid = st.ppid;
  }
  const uid = /^Uid:\s+(\d+)/m.exec(readText(`${PROC}/${pid}/status`) ?? "")?.[1];
  if (uid !== undefined) owner.uid = Number(uid);
  return owner;
}

function session(
  owner: Owner,
  key: string,
  masterPid: number,
  masterSockets: number[],
  path?: string,
): MuxSession {
  const s: MuxSession = { key, owner, masterPid, masterSockets };
  if (path !== undefined) s.controlPath = path;
  return s;
}

/**
 * Follows SSH client processes and says when one starts or ends a multiplexed session. Two ways in:
 * `tick` for a polling source (every client is looked at until decided), `connected` and `exited`
 * for the kernel's word (the eBPF source sees the client's connect() to the control path, and its
 * exit, as they happen).
 */
export class MuxWatch {
  private readonly open = new Map<number, { key: string; seenNs: bigint }>();
  /** Clients already decided (a session found, or none) by key; pending ones with when first seen. */
  private readonly decided = new Set<string>();
  private readonly pending = new Map<string, bigint>();
  /**
   * pid → key of the clients at the last poll: a pid seen at every poll is the same process (its
   * stat is read once, when it appears), so a poll costs no read per running client.
   */
  private keys = new Map<number, string>();
  sessions = 0;
  /** Searches made, answered from the cache, and not made because the user's budget was spent. */
  readonly searches = { made: 0, cached: 0, skipped: 0 };
  /** Control path → its master (checked alive by its start time), or when a miss may be retried. */
  private readonly paths = new Map<string, { masterPid: number; masterKey: string } | { retryNs: bigint }>();
  private readonly budgets = new UserBuckets(SEARCHES_PER_SECOND, SEARCH_BURST, PATHS_MAX);
  private lookupsLeft = PEER_LOOKUPS;

  constructor(private readonly clients: ReadonlySet<string>) {}

  /**
   * One poll. `clientPids`: the SSH clients now (by name); `tcpOwners`: the pids that hold a TCP
   * socket this poll reported (a client with its own connection is no mux client), asked for only
   * when a client is still undecided; `holders`: socket inode → pid for the clients.
   */
  tick(
    clientPids: readonly number[],
    tcpOwners: () => ReadonlySet<number>,
    holders: ReadonlyMap<number, number>,
    nowNs: bigint,
    isUnix: (inode: number) => boolean = () => true,
  ): Observation[] {
    const out: Observation[] = [];
    this.lookupsLeft = PEER_LOOKUPS;
    const keys = new Map<number, string>();
    for (const pid of clientPids) {
      const key = this.keys.get(pid) ?? keyOf(pid);
      if (key !== undefined) keys.set(pid, key);
    }
    this.keys = keys;
    for (const [pid, o] of this.open) {
      if (keys.get(pid) === o.key) o.seenNs = nowNs;
      else {
        this.open.delete(pid);
        out.push({ type: "session-close", timeNs: nowNs, key: o.key, afterNs: o.seenNs });
      }
    }
    for (const [pid, key] of keys) {
      if (this.open.has(pid) || this.decided.has(key)) continue;
      if (tcpOwners().has(pid)) {
        this.decide(key);
        continue;
      }
      const found = this.viaPeer(pid, key, holders, isUnix);
      if (found) {
        this.decide(key);
        this.open.set(pid, { key, seenNs: nowNs });
        this.sessions++;
        out.push({ type: "session-open", timeNs: nowNs, session: found });
        continue;
      }
      const since = this.pending.get(key) ?? nowNs;
      this.pending.set(key, since);
      if (nowNs - since > DECIDE_WITHIN_NS) this.decide(key);
    }
    // Memory follows the clients alive.
    const alive = new Set(keys.values());
    for (const k of this.decided) if (!alive.has(k)) this.decided.delete(k);
    for (const k of this.pending.keys()) if (!alive.has(k)) this.pending.delete(k);
    return out;
  }

  /**
   * The kernel saw `pid` connect to the unix socket at `path`: when an SSH client listens there, this
   * is a session over its connection.
   */
  connected(pid: number, path: string, nowNs: bigint, kernel: Owner): Observation | undefined {
    if (this.open.has(pid)) return undefined;
    const master = this.masterOf(path, pid, kernel.uid, nowNs);
    if (master === undefined) return undefined;
    const key = keyOf(pid) ?? `mux:${pid}:gone`;
    const { masterPid, masterSockets } = master;
    this.open.set(pid, { key, seenNs: nowNs });
    this.sessions++;
    // The kernel's word on the task (name, uid, parent) stands when the client is already gone.
    const owner = keyOf(pid) === undefined ? kernel : { ...kernel, ...ownerOf(pid) };
    return {
      type: "session-open",
      timeNs: nowNs,
      session: session(owner, key, masterPid, masterSockets, path),
    };
  }

  /**
   * The master listening at `path`: from the cache while that process lives, else searched for (within
   * the user's budget). Undefined when there is none, or when the search was not made (counted).
   */
  private masterOf(
    path: string,
    pid: number,
    uid: number | undefined,
    nowNs: bigint,
  ): { masterPid: number; masterSockets: number[] } | undefined {
    const known = this.paths.get(path);
    if (
      known &&
      "masterPid" in known &&
      known.masterPid !== pid &&
      keyOf(known.masterPid) === known.masterKey
    ) {
      this.searches.cached++;
      return { masterPid: known.masterPid, masterSockets: [...clientSockets([known.masterPid]).keys()] };
    }
    if (known && "retryNs" in known && nowNs < known.retryNs) {
      this.searches.cached++;
      return undefined;
    }
    if (!this.budgets.take(uid ?? -1, nowNs)) {
      this.searches.skipped++;
      return undefined;
    }
    this.searches.made++;
    const found = searchMaster(path, pid, this.clients);
    if (this.paths.size >= PATHS_MAX) this.paths.delete(this.paths.keys().next().value as string);
    const masterKey = found && keyOf(found.masterPid);
    this.paths.set(
      path,
      found && masterKey ? { masterPid: found.masterPid, masterKey } : { retryNs: nowNs + NEGATIVE_TTL_NS },
    );
    return found;
  }

  /** The kernel saw `pid` exit: the end of its session, if it had one. */
  exited(pid: number, nowNs: bigint): Observation | undefined {
    const o = this.open.get(pid);
    if (!o) return undefined;
    this.open.delete(pid);
    return { type: "session-close", timeNs: nowNs, key: o.key };
  }

  private decide(key: string): void {
    this.decided.add(key);
    this.pending.delete(key);
  }

  /**
   * A connected, unnamed unix socket of `pid` whose other end another client holds under a name (the
   * control path its listener was bound to): that client is the master. The master's own accepted
   * sockets are named, so a master is never taken for a client of its clients.
   */
  private viaPeer(
    pid: number,
    key: string,
    holders: ReadonlyMap<number, number>,
    isUnix: (inode: number) => boolean,
  ): MuxSession | undefined {
    for (const [ino, holder] of holders) {
      if (holder !== pid || !isUnix(ino)) continue;
      // A client holds a few unix sockets; one named like a client may hold thousands: the lookups of
      // one poll are bounded, and a client not decided now is looked at again at the next.
      if (this.lookupsLeft-- <= 0) {
        this.searches.skipped++;
        return undefined;
      }
      const u = lookupUnix(ino);
      if (u?.peer === undefined || u.name !== undefined) continue;
      const masterPid = holders.get(u.peer);
      if (masterPid === undefined || masterPid === pid) continue;
      const name = lookupUnix(u.peer)?.name;
      if (name === undefined) continue;
      const path = controlPath(name);
      const masterSockets = [...holders].filter(([, p]) => p === masterPid).map(([i]) => i);
      return session(ownerOf(pid), key, masterPid, masterSockets, path);
    }
    return undefined;
  }
}

/** The slow search: the listener at `path` among the host's unix sockets, and which client holds it. */
function searchMaster(
  path: string,
  pid: number,
  clients: ReadonlySet<string>,
): { masterPid: number; masterSockets: number[] } | undefined {
  const listener = listenerInode(path);
  if (listener === undefined) return undefined;
  const masters = listPids().filter((p) => p !== pid && clients.has(readComm(p) ?? ""));
  const holders = clientSockets(masters);
  const masterPid = holders.get(listener);
  if (masterPid === undefined) return undefined;
  const masterSockets = [...holders].filter(([, p]) => p === masterPid).map(([ino]) => ino);
  return { masterPid, masterSockets };
}

/**
 * The inode of the listening unix socket at `path` (/proc/net/unix: flag __SO_ACCEPTCON). OpenSSH binds
 * its control socket under a temporary name (`path.` and 16 random characters) and then links it into
 * place, and the socket keeps the name it was bound to: either is taken.
 */
function listenerInode(path: string): number | undefined {
  const text = readText(`${PROC}/net/unix`) ?? "";
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path
    if (f.length < 8 || (Number.parseInt(f[3] as string, 16) & 0x10000) === 0) continue;
    if (controlPath(f.slice(7).join(" ")) === path) return Number(f[6]);
  }
  return undefined;
}

/** A control socket's name as bound (`path.XXXXXXXXXXXXXXXX`, see above) → the ControlPath. */
export function controlPath(name: string): string {
  const m = /^(.+)\.[A-Za-z0-9]{16}$/.exec(name);
  return m ? (m[1] as string) : name;
}
