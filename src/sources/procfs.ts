import { clock } from "../clock.ts";
import { listPids, PROC, readText } from "../proc-io.ts";
import { NetnsMap } from "./netns.ts";
import { OwnerResolver, type Wanted } from "./owners.ts";
import { type ProcNetEntry, parseProcNet } from "./proc-net.ts";
import type { Diagnostics, Observation, Owner, SocketFacts, Source, SourceStats, TcpState } from "./types.ts";

export interface ProcfsOptions {
  intervalMs: number;
  ports: readonly number[];
  clients: readonly string[];
  diag: Diagnostics;
}

/** States in which a socket is not (or no longer) an outbound connection of a process. */
const IGNORED: ReadonlySet<TcpState> = new Set(["LISTEN", "TIME_WAIT", "CLOSE", "NEW_SYN_RECV", "SYN_RECV"]);

/**
 * Reads the current outbound SSH sockets from /proc. One `scan()` is a full picture of the host at
 * that moment: every network namespace in use, every socket to an SSH port or held by an SSH client.
 * Sockets are resolved to their process once, when first seen; later scans only re-read the tables.
 */
export class ProcfsScanner {
  private readonly netns = new NetnsMap();
  private readonly owners: OwnerResolver;
  private readonly ports: ReadonlySet<number>;
  /** inode → what we concluded when we first saw it: its owner (or none found) if SSH, null if not. */
  private known = new Map<number, { owner: Owner | undefined } | null>();
  malformed = 0;

  constructor(opts: Omit<ProcfsOptions, "intervalMs">) {
    this.ports = new Set(opts.ports);
    this.owners = new OwnerResolver(new Set(opts.clients), opts.diag);
  }

  get ownerStats() {
    return this.owners.stats;
  }

  scan(): SocketFacts[] {
    const { reps } = this.netns.refresh();
    const candidates: { facts: SocketFacts; portMatch: boolean }[] = [];
    for (const [ns, pid] of reps) {
      const base = pid === process.pid ? `${PROC}/self/net` : `${PROC}/${pid}/net`;
      // A socket listening on [::] shows in tcp6 while its IPv4 sessions show in tcp: both tables'
      // listening ports count before deciding what is inbound.
      const listen = new Set<number>();
      const entries: ProcNetEntry[] = [];
      for (const file of ["tcp", "tcp6"]) {
        const text = readText(`${base}/${file}`);
        if (text === undefined) continue; // the representative exited, or no IPv6: next tick will do
        const parsed = parseProcNet(text, {
          keep: (_remotePort, state, inode) => inode !== 0 && !IGNORED.has(state),
        });
        this.malformed += parsed.malformed;
        for (const p of parsed.listening) listen.add(p);
        entries.push(...parsed.entries);
      }
      for (const e of entries) {
        // Our end is a port this namespace listens on: an inbound session, not ours to log.
        if (listen.has(e.localPort) || e.remotePort === 0) continue;
        candidates.push({
          portMatch: this.ports.has(e.remotePort),
          facts: {
            key: `ino:${e.inode}`,
            inode: e.inode,
            netns: ns,
            family: e.family,
            local: { ip: e.localIp, port: e.localPort },
            remote: { ip: e.remoteIp, port: e.remotePort },
            state: e.state,
            uid: e.uid,
          },
        });
      }
    }
    const wanted = new Map<number, Wanted>();
    const seenNow = new Map<number, { owner: Owner | undefined } | null>();
    for (const c of candidates) {
      const ino = c.facts.inode as number;
      const k = this.known.get(ino);
      if (k !== undefined) seenNow.set(ino, k);
      else wanted.set(ino, { portMatch: c.portMatch, uid: c.facts.uid ?? -1 });
    }
    // The pids are listed again, after the tables: a process that connected after the namespace walk
    // listed /proc would otherwise be missing, and its socket taken for nobody's.
    const found = wanted.size === 0 ? new Map<number, Owner>() : this.owners.resolve(wanted, listPids());
    for (const [ino, w] of wanted) {
      const owner = found.get(ino);
      // Not on an SSH port and not held by an SSH client: remember that, never look again.
      seenNow.set(ino, w.portMatch || owner !== undefined ? { owner } : null);
    }
    // Forget inodes that left the tables, so memory follows the live socket count.
    this.known = seenNow;
    const out: SocketFacts[] = [];
    for (const c of candidates) {
      const k = seenNow.get(c.facts.inode as number);
      if (!k) continue;
      if (k.owner !== undefined) c.facts.owner = k.owner;
      out.push(c.facts);
    }
    return out;
  }
}

/**
 * The polling source: a scan every interval, never two at once. A scan that takes longer than the
 * interval delays the next one (said once on stderr) instead of piling up.
 */
export class ProcfsSource implements Source {
  readonly name = "procfs" as const;
  private readonly scanner: ProcfsScanner;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly counters = { ticks: 0, overruns: 0, tickNsTotal: 0, tickNsMax: 0 };

  constructor(private readonly opts: ProcfsOptions) {
    this.scanner = new ProcfsScanner(opts);
  }

  async start(emit: (obs: Observation) => void): Promise<void> {
    this.running = true;
    const tick = (initial: boolean): void => {
      if (!this.running) return;
      const t0 = process.hrtime.bigint();
      const sockets = this.scanner.scan();
      emit({ type: "snapshot", timeNs: clock.nowNs(), sockets, initial });
      const took = Number(process.hrtime.bigint() - t0);
      this.counters.ticks++;
      this.counters.tickNsTotal += took;
      this.counters.tickNsMax = Math.max(this.counters.tickNsMax, took);
      const tookMs = took / 1e6;
      if (tookMs > this.opts.intervalMs) {
        this.counters.overruns++;
        this.opts.diag.once(
          "tick-overrun",
          `a procfs scan took ${tookMs.toFixed(1)} ms, longer than the ${this.opts.intervalMs} ms interval; ` +
            "scans run back to back (never overlapping) until they are faster — consider --interval or --source ebpf",
        );
      }
      if (this.running)
        this.timer = setTimeout(() => tick(false), Math.max(0, this.opts.intervalMs - tookMs));
    };
    tick(true);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  stats(): SourceStats {
    const o = this.scanner.ownerStats;
    return {
      lost: 0,
      ticks: this.counters.ticks,
      overruns: this.counters.overruns,
      tick_ms_avg: this.counters.ticks ? this.counters.tickNsTotal / this.counters.ticks / 1e6 : 0,
      tick_ms_max: this.counters.tickNsMax / 1e6,
      fd_dirs_read: o.fdDirsRead,
      full_scans: o.fullScans,
      fd_denied: o.denied,
      malformed_lines: this.scanner.malformed,
    };
  }
}
