// One concept in one file (about 330 lines): the state of every socket the probe reported, from its
// connect to its close, and how it is repaired from /proc after a loss or a gap.
import type {
  BannerSide,
  DetectedBy,
  Endpoint,
  KeptExec,
  Observation,
  SocketFacts,
  TcpState,
} from "../types.ts";

/**
 * What the kernel probe reports about one socket (native/probe.bpf.c, read by probe-records.ts). `sk`
 * is the kernel's socket address: the one id every transition carries.
 */
/** Checks made after the last loss, at least (one a second). */
const CHECKS_AFTER_LOSS = 3;

export type KernelEvent =
  | {
      kind: "connect";
      sk: string;
      pid: number;
      tid: number;
      uid: number;
      ppid: number;
      parentComm?: string;
      netns: number;
      inode: number;
      family: "ipv4" | "ipv6";
      dport: number;
      daddr: string;
      timeNs: bigint;
      comm: string;
      /** Read from the ring of a probe taken over: it happened while no daemon read the probe. */
      whileDown?: boolean;
      /** What the kernel kept of its process's exec and its ancestors' (used when the process is gone). */
      kept?: KeptExec[];
      /** What chose it: its remote port, its client's name, or its first payload (the protocol). */
      via?: DetectedBy;
    }
  /** A tracked connection's first payload one way began with "SSH-": the identification string. */
  | { kind: "banner"; sk: string; side: BannerSide; text: string; timeNs: bigint }
  | { kind: "established"; sk: string; sport: number; saddr: string; timeNs: bigint }
  | {
      kind: "close";
      sk: string;
      oldState: TcpState;
      bytesAcked: number;
      bytesReceived: number;
      timeNs: bigint;
      family: "ipv4" | "ipv6";
      sport: number;
      dport: number;
      netns: number;
      saddr: string;
      daddr: string;
    };

interface Live {
  key: string;
  inode?: number | undefined;
  sk?: string;
  /** Its 4-tuple key, under which a close of a socket the probe did not see connect is found. */
  tuple?: string;
  /** A close for it will come from the kernel (tracked by the probe, or on an SSH port). */
  closeSeen: boolean;
  /** Last state seen by polling (for sockets found while the probe was down). */
  state?: TcpState;
  netns?: number | undefined;
  remote: Endpoint;
  /** When its connect was seen (the earliest its end can have been). */
  connectNs?: bigint;
}

const inodesOf = (sockets: readonly SocketFacts[]): Set<number> => {
  const out = new Set<number>();
  for (const s of sockets) if (s.inode !== undefined) out.add(s.inode);
  return out;
};

/** Banners of sockets whose connect has not come yet (the other way claimed it on another CPU). */
const EARLY_BANNERS_MAX = 1024;

const tupleKey = (netns: number | undefined, sip: string, sport: number, dip: string, dport: number) =>
  `${netns ?? 0}|${sip}|${sport}|${dip}|${dport}`;

export interface TableStats {
  tracked: number;
  by_sk: number;
  by_tuple: number;
  /** Established or close records for a socket whose connect record was lost. */
  orphans: number;
  repaired: number;
  /** Sockets whose connect record was lost, found open by a check after the loss. */
  recovered: number;
  /** Identification strings the probe reported, and those of no socket we tracked. */
  banners: number;
  banners_unmatched: number;
}

/**
 * The eBPF source's memory of sockets, and the rules that turn kernel events into observations:
 *   - keyed like procfs keys sockets (by inode), so a hand-over between sources keeps each id;
 *   - records come in the order the program reserved them (one BPF ring buffer for all CPUs), so an
 *     established or close without a connect before it belongs to a socket whose connect record was
 *     lost: counted as an orphan, never applied to a later socket at the same kernel address;
 *   - a connect at a kernel address still held by a tracked socket proves that socket is gone (the
 *     kernel freed and reused its memory): its lost close is repaired at once;
 *   - after lost events, every socket is checked against the kernel's tables at the next check, and
 *     those gone are closed with outcome unknown (their end time was lost);
 *   - while the probe is down, a picture from /proc stands in for it, so nothing connects unseen;
 *   - every map holds only live sockets.
 */
export class KernelTable {
  private readonly live = new Map<string, Live>();
  private readonly bySk = new Map<string, string>();
  private readonly byTuple = new Map<string, string>();
  /**
   * After a loss: since when closes may be missing, and how many more checks to make. The records read
   * after a loss include connects whose closes were lost, and they can reach us after the first check
   * (the ring buffer and the hand-over queue still held them): checks go on for a few seconds after the
   * last loss, and until one runs with nothing of the probe's left to hand over.
   */
  private suspect: { sinceNs: bigint; checksLeft: number } | undefined;
  /**
   * A banner can reach us just before its socket's connect: both ways of a connection can see "SSH-"
   * at once on two CPUs, and the one that did not claim it may send first. Kept a moment, bounded.
   */
  private readonly early = new Map<string, Extract<KernelEvent, { kind: "banner" }>[]>();
  readonly counts = { orphans: 0, repaired: 0, recovered: 0, banners: 0, banners_unmatched: 0 };

  constructor(
    private readonly emit: (obs: Observation) => void,
    private readonly ports: readonly number[],
    /** Whether the probe reports identification strings now (its protocol programs run). */
    private readonly banners: () => boolean = () => false,
  ) {}

  stats(): TableStats {
    return {
      tracked: this.live.size,
      by_sk: this.bySk.size,
      by_tuple: this.byTuple.size,
      orphans: this.counts.orphans,
      repaired: this.counts.repaired,
      recovered: this.counts.recovered,
      banners: this.counts.banners,
      banners_unmatched: this.counts.banners_unmatched,
    };
  }

  event(ev: KernelEvent): void {
    switch (ev.kind) {
      case "connect":
        this.connect(ev);
        return;
      case "banner":
        this.banner(ev);
        return;
      case "established": {
        const key = this.bySk.get(ev.sk);
        if (key === undefined) {
          this.counts.orphans++;
          return;
        }
        const l = this.live.get(key);
        if (l) {
          l.state = "ESTABLISHED";
          // Known by its tuple too from now on: a probe started later reports its close that way.
          l.tuple = tupleKey(l.netns, ev.saddr, ev.sport, l.remote.ip, l.remote.port);
          this.byTuple.set(l.tuple, key);
        }
        const local = { ip: ev.saddr, port: ev.sport };
        this.emit(
          this.banners()
            ? { type: "established", timeNs: ev.timeNs, key, local, banners: true }
            : { type: "established", timeNs: ev.timeNs, key, local },
        );
        return;
      }
      case "close": {
        const fromConnect = this.bySk.get(ev.sk);
        const key =
          fromConnect ?? this.byTuple.get(tupleKey(ev.netns, ev.saddr, ev.sport, ev.daddr, ev.dport));
        // A socket on an SSH port that we never reported (closed before we started), or one whose
        // connect record was lost.
        if (key === undefined) {
          this.counts.orphans++;
          return;
        }
        this.forget(key);
        const obs: Observation = { type: "close", timeNs: ev.timeNs, key, oldState: ev.oldState };
        if (fromConnect !== undefined) {
          // Counters cover the whole life only for sockets seen from their connect().
          obs.bytesSent = ev.bytesAcked;
          obs.bytesReceived = ev.bytesReceived;
        }
        this.emit(obs);
        return;
      }
    }
  }

  /** The probe said it lost events: the next `check` compares every socket with the kernel's tables. */
  lost(nowNs: bigint): void {
    this.suspect = { sinceNs: this.suspect?.sinceNs ?? nowNs, checksLeft: CHECKS_AFTER_LOSS };
  }

  /** The probe is gone (its kernel maps with it): closes of the sockets it tracked will not come. */
  probeDown(): void {
    this.bySk.clear();
    for (const l of this.live.values()) {
      delete l.sk;
      // The next probe's port filter still reports closes on an SSH port, found by tuple.
      l.closeSeen = l.tuple !== undefined && this.ports.includes(l.remote.port);
    }
  }

  /**
   * A picture of the host's SSH sockets from /proc while the probe is down (or once it is back, with
   * `existing`): new sockets are reported, sockets we track that are missing are closed.
   * `asExisting`: new sockets were open before we looked (start of the source), not seen connecting.
   */
  picture(present: readonly SocketFacts[], nowNs: bigint, asExisting: boolean): void {
    const seen = inodesOf(present);
    for (const [key, l] of [...this.live]) {
      if (l.inode !== undefined && !seen.has(l.inode)) this.closeGone(key, nowNs, l.state !== "SYN_SENT");
    }
    const known = new Map<number, Live>();
    for (const l of this.live.values()) if (l.inode !== undefined) known.set(l.inode, l);
    const fresh: SocketFacts[] = [];
    for (const s of present) {
      const l = s.inode === undefined ? undefined : known.get(s.inode);
      if (l) {
        if (l.state === "SYN_SENT" && s.state !== "SYN_SENT" && s.local) {
          l.state = s.state;
          this.emit({ type: "established", timeNs: nowNs, key: l.key, local: s.local });
        }
        continue;
      }
      this.track(s);
      fresh.push(s);
    }
    if (fresh.length === 0) return;
    if (asExisting) {
      this.emit({ type: "existing", timeNs: nowNs, sockets: fresh });
      return;
    }
    for (const s of fresh) {
      this.emit({ type: "connect", timeNs: nowNs, socket: { ...s, state: "SYN_SENT" } });
      if (s.state !== "SYN_SENT" && s.local) {
        this.emit({ type: "established", timeNs: nowNs, key: s.key, local: s.local });
      }
    }
  }

  /** Whether a loss was seen lately: the next checks repair and recover (see `check`). */
  get afterLoss(): boolean {
    return this.suspect !== undefined;
  }

  /** Which sockets need /proc now: those whose close the probe cannot report, or all after a loss. */
  needsCheck(): boolean {
    if (this.suspect !== undefined) return true;
    for (const l of this.live.values()) if (!l.closeSeen) return true;
    return false;
  }

  /**
   * Compares with the kernel's sockets (from /proc): those gone are closed; after a loss, as repaired.
   * After a loss, a socket the kernel has that we never heard of connected among the lost records: it
   * is reported (`existing`, recovered), once nothing of the probe's waits to be handed over (its
   * connect would otherwise be one still on its way to us, not a lost one); the same wait before a
   * socket gone is repaired (its close may be on its way).
   */
  check(present: readonly SocketFacts[], nowNs: bigint, drained = true): void {
    const seen = inodesOf(present);
    const since = this.suspect?.sinceNs;
    if (since !== undefined && drained) {
      const known = new Set<number>();
      for (const l of this.live.values()) if (l.inode !== undefined) known.add(l.inode);
      const found = present.filter(
        (s) => s.inode !== undefined && !known.has(s.inode) && !this.live.has(s.key),
      );
      for (const s of found) this.track(s);
      if (found.length > 0) {
        this.counts.recovered += found.length;
        this.emit({ type: "existing", timeNs: nowNs, sockets: found, recovered: { afterNs: since } });
      }
    }
    for (const [key, l] of [...this.live]) {
      if (l.inode === undefined || seen.has(l.inode)) continue;
      // Its close was among the lost records: it ended after the loss began, when exactly is lost. Not
      // while records wait to be handed to us: its close may be one of them (the caller has the
      // probe's ring read into that queue after its picture, so `drained` covers the ring too).
      if (since !== undefined && l.closeSeen) {
        if (drained) this.repair(key, nowNs, since);
      } else if (!l.closeSeen) this.closeGone(key, nowNs, true);
    }
    if (this.suspect && --this.suspect.checksLeft <= 0 && drained) this.suspect = undefined;
  }

  private banner(ev: Extract<KernelEvent, { kind: "banner" }>): void {
    this.counts.banners++;
    const key = this.bySk.get(ev.sk);
    if (key !== undefined) {
      this.emit({ type: "banner", timeNs: ev.timeNs, key, side: ev.side, text: ev.text });
      return;
    }
    // Its connect may be next (or it belongs to a socket we never tracked: it ages out).
    if (this.early.size >= EARLY_BANNERS_MAX) {
      const oldest = this.early.keys().next().value as string;
      this.counts.banners_unmatched += this.early.get(oldest)?.length ?? 0;
      this.early.delete(oldest);
    }
    const list = this.early.get(ev.sk) ?? [];
    list.push(ev);
    this.early.set(ev.sk, list.slice(-2));
  }

  private repair(key: string, nowNs: bigint, afterNs: bigint): void {
    this.counts.repaired++;
    this.forget(key);
    this.emit({ type: "close", timeNs: nowNs, key, oldState: "UNKNOWN", outcome: "unknown", afterNs });
  }

  private connect(ev: Extract<KernelEvent, { kind: "connect" }>): void {
    const key = ev.inode ? `ino:${ev.inode}` : `sk:${ev.sk}`;
    const previous = this.bySk.get(ev.sk);
    if (previous !== undefined && previous !== key) {
      this.repair(previous, ev.timeNs, this.live.get(previous)?.connectNs ?? ev.timeNs);
    }
    this.live.set(key, {
      key,
      inode: ev.inode || undefined,
      closeSeen: true,
      sk: ev.sk,
      state: "SYN_SENT",
      netns: ev.netns,
      remote: { ip: ev.daddr, port: ev.dport },
      connectNs: ev.timeNs,
    });
    this.bySk.set(ev.sk, key);
    const socket: SocketFacts = {
      key,
      inode: ev.inode,
      netns: ev.netns,
      family: ev.family,
      remote: { ip: ev.daddr, port: ev.dport },
      state: "SYN_SENT",
      uid: ev.uid,
      owner: { pid: ev.pid, tid: ev.tid, comm: ev.comm, uid: ev.uid },
    };
    // 0: not known (a task of a pid namespace below ours: its parent's pid there is not given).
    if (ev.ppid > 0 && socket.owner) socket.owner.ppid = ev.ppid;
    if (ev.parentComm !== undefined && socket.owner) socket.owner.parentComm = ev.parentComm;
    if (ev.kept !== undefined && socket.owner) socket.owner.kept = ev.kept;
    if (ev.via !== undefined) socket.detectedBy = ev.via;
    this.emit(
      ev.whileDown
        ? { type: "connect", timeNs: ev.timeNs, socket, whileDown: true }
        : { type: "connect", timeNs: ev.timeNs, socket },
    );
    // Banners that came just before it, of this socket (not of an earlier one at the same address).
    const early = this.early.get(ev.sk);
    if (early !== undefined) {
      this.early.delete(ev.sk);
      for (const b of early) {
        if (b.timeNs >= ev.timeNs)
          this.emit({ type: "banner", timeNs: b.timeNs, key, side: b.side, text: b.text });
        else this.counts.banners_unmatched++;
      }
    }
  }

  private track(s: SocketFacts): void {
    const l: Live = {
      key: s.key,
      inode: s.inode,
      closeSeen: false,
      state: s.state,
      netns: s.netns,
      remote: s.remote,
    };
    if (s.local) {
      l.tuple = tupleKey(s.netns, s.local.ip, s.local.port, s.remote.ip, s.remote.port);
      this.byTuple.set(l.tuple, s.key);
      // The probe's port filter reports the close of a socket on an SSH port, found by its tuple.
      l.closeSeen = this.ports.includes(s.remote.port);
    }
    this.live.set(s.key, l);
  }

  /** Found gone by polling: a close (or, never past SYN_SENT, an attempt whose result nobody saw). */
  private closeGone(key: string, nowNs: bigint, wasOpen: boolean): void {
    this.forget(key);
    const obs: Observation = { type: "close", timeNs: nowNs, key, oldState: "UNKNOWN" };
    if (!wasOpen) obs.outcome = "unknown";
    this.emit(obs);
  }

  /** Drops a socket, and its entries in the indexes unless they already name another socket. */
  private forget(key: string): void {
    const l = this.live.get(key);
    if (l?.sk !== undefined && this.bySk.get(l.sk) === key) this.bySk.delete(l.sk);
    if (l?.tuple !== undefined && this.byTuple.get(l.tuple) === key) this.byTuple.delete(l.tuple);
    this.live.delete(key);
  }
}

export type { Endpoint };
