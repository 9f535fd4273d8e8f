/**
 * What a source yields: observations of TCP sockets that look like outbound SSH, and of SSH sessions
 * that ride an existing connection. A source knows how
 * to see sockets (polling /proc, or kernel events through eBPF); it knows nothing of ids, processes'
 * ancestry or output formats. Everything after it works the same whichever source is running.
 */

export type SourceName = "procfs" | "ebpf";

/** Which network namespaces' connections a source reports: every one on the host, or the daemon's own. */
export type NetnsScope = "all" | "own";

/**
 * --protocol: how the eBPF source recognises SSH by its first bytes: through TCP's tracepoints where the
 * kernel has them (on), through cgroup_skb packet hooks (packets), or not at all (off).
 */
export type ProtocolMode = "on" | "packets" | "off";

export interface Endpoint {
  ip: string;
  port: number;
}

/** TCP states by the kernel's numbering (include/net/tcp_states.h). */
export const TCP_STATES = [
  "UNKNOWN",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
] as const;
export type TcpState = (typeof TCP_STATES)[number];

/** The process behind a socket, as far as the source could tell at the moment it saw it. */
/**
 * What the eBPF probe kept of a process's exec (native/probe-exec.bpf.h), for a process gone from /proc
 * by the time it is looked at (a connection made while the daemon was down).
 */
export interface KeptExec {
  pid: number;
  ppid: number;
  uid: number;
  euid: number;
  /** Start time in clock ticks since boot, as /proc/PID/stat's field 22. */
  startTicks: number;
  comm: string;
  /** The path given to exec (not known through the tracefs tracepoint). */
  executable?: string;
  /** The argv as it was at exec, at most 512 bytes of it (the last argument may be cut). */
  args: string[];
  /** The whole argv's size, when `args` is a prefix of it. */
  argsBytes?: number;
  /** The login it belonged to: loginuid and audit session, when set. */
  loginUid?: number;
  auditSession?: number;
}

export interface Owner {
  pid: number;
  /** The thread that called connect(), when the kernel told us. */
  tid?: number;
  fd?: number;
  /** Task name (comm) as the kernel had it at that moment. */
  comm?: string;
  uid?: number;
  ppid?: number;
  parentComm?: string;
  /** What the kernel kept of its exec and its ancestors' (the process first), when it was gone from /proc. */
  kept?: KeptExec[];
}

/** What made a connection SSH: its remote port (--ports), its client's name (--clients), or its protocol. */
export type DetectedBy = "port" | "client" | "protocol";

/** Whose identification string: the client's (sent) or the server's (received). */
export type BannerSide = "client" | "server";

export interface SocketFacts {
  /** Stable while the socket lives; chosen by the source (inode, kernel address, or 4-tuple). */
  key: string;
  inode?: number;
  netns?: number;
  family: "ipv4" | "ipv6";
  /** Unknown while a connect() is still in SYN_SENT as seen by the kernel tracepoint. */
  local?: Endpoint;
  remote: Endpoint;
  state: TcpState;
  /** The socket's uid (from /proc/net/tcp or the kernel). */
  uid?: number;
  owner?: Owner;
  detectedBy?: DetectedBy;
  /** The identification strings each side sent ("SSH-2.0-…"), as far as the source saw them (eBPF). */
  banners?: { client?: string; server?: string };
}

/** An SSH client whose session rides another client's connection (ControlMaster); see mux.ts. */
export interface MuxSession {
  /** Stable while the session lives: the client's pid and start time. */
  key: string;
  owner: Owner;
  masterPid: number;
  /** Socket inodes the master holds: its TCP connection is among them. */
  masterSockets: number[];
  controlPath?: string;
}

export type Observation =
  /** procfs: every matching socket alive right now. Keys missing from it have gone. */
  | { type: "snapshot"; timeNs: bigint; sockets: SocketFacts[]; initial: boolean }
  /** ebpf: sockets that were already open when the source started; a later close ends them. */
  | {
      type: "existing";
      timeNs: bigint;
      sockets: SocketFacts[];
      /** Not open before we looked: connected among lost kernel events (after `afterNs`), found now. */
      recovered?: { afterNs: bigint };
    }
  /** ebpf: connect() put the socket into SYN_SENT (`whileDown`: while no daemon read the pinned probe). */
  | { type: "connect"; timeNs: bigint; socket: SocketFacts; whileDown?: true }
  /**
   * ebpf: the handshake completed. `banners`: the source will report the identification strings (its
   * protocol programs run), so the record of the opening may wait a moment for them.
   */
  | { type: "established"; timeNs: bigint; key: string; local: Endpoint; banners?: true }
  /** ebpf: a tracked connection's identification string one way. */
  | { type: "banner"; timeNs: bigint; key: string; side: BannerSide; text: string }
  /** ebpf: the socket reached CLOSE, or was found gone. */
  | {
      type: "close";
      timeNs: bigint;
      key: string;
      oldState: TcpState;
      bytesSent?: number;
      bytesReceived?: number;
      /** unknown: the end was not seen but found afterwards (events were lost); it happened after `afterNs`. */
      outcome?: "unknown";
      afterNs?: bigint;
    }
  /**
   * ebpf: one user's connects beyond their rate that ended before they were established, counted in
   * the kernel since the last such observation (not sent one by one: see native/probe.h).
   */
  | {
      type: "attempts";
      timeNs: bigint;
      uid: number;
      count: number;
      /** Of `count`, those not in `destinations` (the kernel's map for them was full). */
      unlisted: number;
      lastNs: bigint;
      destinations: CountedDestination[];
    }
  /** A client began a session over a master's connection. */
  | { type: "session-open"; timeNs: bigint; session: MuxSession }
  /** It ended (exited); with `afterNs` when the end was found by polling: it happened after that. */
  | { type: "session-close"; timeNs: bigint; key: string; afterNs?: bigint };

/** Connects to one destination counted in the kernel: how many, when, and the last process making them. */
export interface CountedDestination {
  remote: Endpoint;
  count: number;
  firstNs: bigint;
  lastNs: bigint;
  pid: number;
  comm: string;
}

export interface SourceStats {
  /**
   * Observations the source knows it could not deliver (kernel ring buffer overruns). Absent where a
   * loss cannot be counted: procfs does not know of a connection that began and ended between polls.
   */
  lost?: number;
  /** Cumulative CPU spent in the source's own work, where it can tell (ticks for procfs). */
  ticks?: number;
  [k: string]: number | undefined;
}

/** Where events were lost: the kernel's ring buffer, or the hand-over queue from its reader thread. */
export type LossStage = "ring-buffer" | "hand-over";

/** Events a source lost between two times, as it learnt of it. */
export interface Loss {
  stage: LossStage;
  count: number;
  sinceNs: bigint;
  untilNs: bigint;
}

/** What a source hands on besides observations. */
export interface SourceEvents {
  emit(obs: Observation): void;
  /**
   * The source cannot do its job as it should (it failed many times in a row, or it handed over to a
   * fallback): the trail says so in a monitor-degraded record. `now` names what runs from now on.
   */
  degraded(reason: string): void;
  /** The source stopped for good while running; a fallback takes over where there is one. */
  failed(error: Error): void;
  /** The source lost events (and is repairing what they concerned): the trail says so when it happens. */
  lost?(loss: Loss): void;
}

export interface Source {
  /** What delivers observations now (a fallback source changes it when it hands over). */
  readonly name: SourceName;
  /** Why this source runs, in words for monitor-started (set by whoever chose it). */
  reason: string;
  /** Begins delivering observations; resolves once the source is capturing. */
  start(events: SourceEvents): Promise<void>;
  /** Stops delivering; resolves when nothing more will be emitted. */
  stop(): Promise<void>;
  stats(): SourceStats;
}

/** Diagnostics go to stderr, never into the event stream. */
export interface Diagnostics {
  info(message: string): void;
  warn(message: string): void;
  /** Says a message once for a given key for the life of the process. */
  once(key: string, message: string): void;
}
