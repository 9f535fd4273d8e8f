import { listPids, PROC, readComm, readStat, readText } from "../proc-io.ts";
import { clientSockets } from "./client-sockets.ts";
import type { MuxSession, Observation, Owner } from "./types.ts";
import { lookupUnix } from "./unix-diag.ts";

/**
 * Sessions multiplexed over an existing SSH connection (ControlMaster/ControlPath, Ansible's default):
 * a later `ssh host cmd` opens no TCP connection; it connects to the master's unix socket and the
 * master carries its session. Such a client is found by the unix socket it holds: the other end
 * (netlink unix_diag's peer) is held by another SSH client, the master, whose TCP connection the
 * session rides. The master's side of the pair carries the control path as its name (an accepted unix
 * socket takes its listener's address).
 */

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
  ): Observation[] {
    const out: Observation[] = [];
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
      const found = this.viaPeer(pid, key, holders);
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
    const key = keyOf(pid) ?? `mux:${pid}:gone`;
    const listener = listenerInode(path);
    if (listener === undefined) return undefined;
    const masters = listPids().filter((p) => p !== pid && this.clients.has(readComm(p) ?? ""));
    const holders = clientSockets(masters);
    const masterPid = holders.get(listener);
    if (masterPid === undefined) return undefined;
    const masterSockets = [...holders].filter(([, p]) => p === masterPid).map(([ino]) => ino);
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
  private viaPeer(pid: number, key: string, holders: ReadonlyMap<number, number>): MuxSession | undefined {
    for (const [ino, holder] of holders) {
      if (holder !== pid) continue;
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
