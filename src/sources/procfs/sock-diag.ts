import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { nativeAddon } from "../native.ts";
import { TCP_STATES, type TcpState } from "../types.ts";
import { formatAddress, type ProcNetEntry } from "./proc-net.ts";

/**
 * Socket listing over netlink sock_diag (what `ss` uses), with the port filter run in the kernel:
 * the kernel sends only the sockets to an SSH port, where /proc/net/tcp formats every socket of the
 * host as text for us to parse. The system calls are in a small N-API addon (native/sock_diag.c);
 * the request is built and the replies parsed here.
 */

export const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const SOCK_DIAG_BY_FAMILY = 20;
/** inet_diag's first request type: a TCP dump of both families in one walk of the table. */
export const TCPDIAG_GETSOCK = 18;
const IPPROTO_TCP = 6;
const INET_DIAG_REQ_BYTECODE = 1;
const BC_JMP = 1;
const BC_D_GE = 4;
const BC_D_LE = 5;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const NLMSG_HDR = 16;
const REQ_V2 = 56;
/** struct inet_diag_req (family, lengths, ext, the 48-byte sockid, states, dbs). */
const REQ_COMPAT = 60;
const DIAG_MSG = 72;

/** Bit mask of TCP states, as inet_diag wants it. */
export function stateMask(states: readonly TcpState[]): number {
  let mask = 0;
  for (const s of states) mask |= 1 << TCP_STATES.indexOf(s);
  return mask >>> 0;
}

/**
 * inet_diag bytecode accepting a socket whose remote port is one of `ports`. Per port: D_GE p, D_LE p
 * (each followed by the op holding p), then a JMP to the end (accept). A failed comparison goes to the
 * next port's block; after the last block, to end + 4 (reject). Every op is reachable by its `yes`
 * offset, as the kernel's bytecode audit requires.
 */
export function portFilter(ports: readonly number[]): Buffer {
  const block = 20;
  const len = ports.length * block;
  const bc = Buffer.alloc(len);
  ports.forEach((port, i) => {
    const b = i * block;
    const last = i === ports.length - 1;
    const fail = (at: number) => (last ? len + 4 : b + block) - at;
    const op = (at: number, code: number, yes: number, no: number) => {
      bc.writeUInt8(code, at);
      bc.writeUInt8(yes, at + 1);
      bc.writeUInt16LE(no, at + 2);
    };
    op(b, BC_D_GE, 8, fail(b));
    op(b + 4, 0, 0, port);
    op(b + 8, BC_D_LE, 8, fail(b + 8));
    op(b + 12, 0, 0, port);
    op(b + 16, BC_JMP, 4, len - (b + 16));
  });
  return bc;
}

/**
 * A dump request of netlink message TYPE: a request header of SIZE bytes that FILL writes (given the
 * offset where it begins), then the bytecode, when there is one, as its INET_DIAG_REQ_BYTECODE attribute.
 */
function dumpOf(
  type: number,
  size: number,
  fill: (msg: Buffer, at: number) => void,
  filter?: Buffer,
): Buffer {
  const attr = filter ? 4 + filter.length : 0;
  const msg = Buffer.alloc(NLMSG_HDR + size + attr);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  fill(msg, NLMSG_HDR);
  if (filter) {
    msg.writeUInt16LE(attr, NLMSG_HDR + size);
    msg.writeUInt16LE(INET_DIAG_REQ_BYTECODE, NLMSG_HDR + size + 2);
    filter.copy(msg, NLMSG_HDR + size + 4);
  }
  return msg;
}

/** A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of `family` in `states`, optionally filtered. */
export function dumpRequest(family: number, states: number, filter?: Buffer, protocol = IPPROTO_TCP): Buffer {
  return dumpOf(
    SOCK_DIAG_BY_FAMILY,
    REQ_V2,
    (msg, at) => {
      msg.writeUInt8(family, at);
      msg.writeUInt8(protocol, at + 1);
      msg.writeUInt32LE(states, at + 4);
    },
    filter,
  );
}

/**
 * The same dump for both families at once, through inet_diag's first request type (TCPDIAG_GETSOCK):
 * the kernel keeps one table for IPv4 and IPv6 TCP sockets, and walking it is most of a dump's cost
 * (about 1.1 ms on this 24 GiB machine with no socket in it, whatever the filter keeps); a request per
 * family walks it twice. The kernel answers this type for AF_UNSPEC: every family.
 */
export function bothFamiliesRequest(states: number, filter?: Buffer): Buffer {
  return dumpOf(
    TCPDIAG_GETSOCK,
    REQ_COMPAT,
    (msg, at) => {
      msg.writeUInt8(AF_INET, at);
      msg.writeUInt32LE(states, at + 52);
    },
    filter,
  );
}

/**
 * A request for one socket by its id (no NLM_F_DUMP): the kernel finds it through its hash, without
 * walking the table, and checks the cookie, so a new socket on the same ports is not taken for it.
 */
export function lookupRequest(e: DiagEntry): Buffer {
  const msg = Buffer.alloc(NLMSG_HDR + REQ_V2);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  msg.writeUInt16LE(NLM_F_REQUEST, 6);
  msg.writeUInt8(e.familyCode, NLMSG_HDR);
  msg.writeUInt8(IPPROTO_TCP, NLMSG_HDR + 1);
  msg.writeUInt32LE(0xffffffff, NLMSG_HDR + 4);
  e.sockid.copy(msg, NLMSG_HDR + 8);
  return msg;
}

export const ENOENT = 2;
const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number): string => ERRNO_NAMES.get(n) ?? `errno ${n}`;

/** The socket as it is now, or undefined when it is gone. */
export function lookupSocket(e: DiagEntry): DiagEntry | undefined {
  try {
    return parseReply(call(lookupRequest(e)), false)[0];
  } catch (err) {
    if (err instanceof SockDiagError && err.errno === ENOENT) return undefined;
    throw err;
  }
}

/**
 * A netlink answer we could not use whole. `code` is the errno name (ENOBUFS, ETIMEDOUT, EPERM …) or
 * ETRUNC / ENODONE / ESHORT for a reply cut in the kernel, at NLMSG_DONE, or inside a message.
 * `permanent`: netlink will not work in this process (no permission, no protocol), so reading /proc
 * instead is right; anything else is one failed tick, tried again at the next.
 */
export class SockDiagError extends Error {
  readonly code: string;
  constructor(
    code: string,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
    this.code = code;
  }

  get permanent(): boolean {
    return PERMANENT.has(this.code);
  }
}

const PERMANENT = new Set(["EPERM", "EACCES", "EPROTONOSUPPORT", "EAFNOSUPPORT", "EINVAL", "EUNAVAILABLE"]);

/** Makes the kernel cut reply datagrams at this many bytes (fault tests only; unset in production). */
const FAULT_RECV = Number(process.env.SSH_OUTBOUND_FAULT_NETLINK_RECV ?? 0) || 0;

/** One request to the kernel, its whole reply back (several datagrams for a dump). */
export function call(request: Buffer): Buffer {
  const a = sockDiag();
  if (!a) throw new SockDiagError("EUNAVAILABLE", `sock_diag addon unavailable: ${native.error()}`);
  try {
    return FAULT_RECV > 0 ? a.dump(request, FAULT_RECV) : a.dump(request);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "ESOCKDIAG";
    throw new SockDiagError(code, (err as Error).message);
  }
}

/** A socket from netlink: what /proc/net/tcp gives, and the kernel's id to look it up again. */
export interface DiagEntry extends ProcNetEntry {
  /** family byte and the 48-byte inet_diag_sockid (ports, addresses, interface, cookie). */
  sockid: Buffer;
  familyCode: number;
}

/**
 * The inet_diag_msg records of a reply, as the same entries /proc/net/tcp parsing gives. A dump's
 * reply must end with NLMSG_DONE and hold only whole messages; anything less throws (ESHORT,
 * ENODONE), since a socket missing from a cut dump is not a closed socket.
 */
export function parseReply(reply: Buffer, dump: boolean): DiagEntry[] {
  const out: DiagEntry[] = [];
  walkReply(reply, dump, DIAG_MSG, (m) => {
    const v4 = reply.readUInt8(m) === AF_INET;
    const addr = (at: number) => formatAddress([...reply.subarray(at, at + (v4 ? 4 : 16))]);
    const local = addr(m + 8);
    out.push({
      family: local.family,
      state: TCP_STATES[reply.readUInt8(m + 1)] ?? "UNKNOWN",
      localIp: local.ip,
      localPort: reply.readUInt16BE(m + 4),
      remoteIp: addr(m + 24).ip,
      remotePort: reply.readUInt16BE(m + 6),
      uid: reply.readUInt32LE(m + 64),
      inode: reply.readUInt32LE(m + 68),
      sockid: Buffer.from(reply.subarray(m + 4, m + 52)),
      familyCode: reply.readUInt8(m),
    });
  });
  return out;
}

/**
 * Walks the messages of a sock_diag reply, calling `onMessage(offset of the payload, its end)` for each
 * SOCK_DIAG_BY_FAMILY (or TCPDIAG_GETSOCK) message of at least `minPayload` bytes. A dump's reply must end with NLMSG_DONE
 * and hold only whole messages; anything less throws (ESHORT, ENODONE), since a socket missing from a
 * cut dump is not a closed socket. An NLMSG_ERROR throws with its errno.
 */
export function walkReply(
  reply: Buffer,
  dump: boolean,
  minPayload: number,
  onMessage: (payload: number, end: number) => void,
): void {
  let off = 0;
  let done = false;
  while (off < reply.length) {
    if (off + NLMSG_HDR > reply.length)
      throw new SockDiagError("ESHORT", "sock_diag: reply cut inside a header");
    const len = reply.readUInt32LE(off);
    const type = reply.readUInt16LE(off + 4);
    if (len < NLMSG_HDR || off + len > reply.length) {
      throw new SockDiagError("ESHORT", `sock_diag: message of ${len} bytes cut at ${reply.length - off}`);
    }
    if (type === NLMSG_DONE) {
      done = true;
      break;
    }
    if (type === NLMSG_ERROR) {
      const err = -reply.readInt32LE(off + NLMSG_HDR);
      if (err !== 0)
        throw new SockDiagError(errnoName(err), `sock_diag: ${errnoName(err)} (errno ${err})`, err);
      if (!dump) break;
    } else if ((type === SOCK_DIAG_BY_FAMILY || type === TCPDIAG_GETSOCK) && len >= NLMSG_HDR + minPayload) {
      onMessage(off + NLMSG_HDR, off + len);
    }
    off += (len + 3) & ~3;
    if (!dump) break;
  }
  if (dump && !done) throw new SockDiagError("ENODONE", "sock_diag: dump reply without NLMSG_DONE");
}

interface Addon {
  dump(request: Buffer, maxRecv?: number): Buffer;
  /** sd_notify: one datagram to the service manager's socket (native/notify.c). */
  notify(socketPath: string, message: string): void;
  /** Clears O_NONBLOCK on a descriptor; true if it was set (native/blocking.c). */
  blocking(fd: number): boolean;
}

/**
 * The sock_diag addon, or null when it was not built (no compiler at `npm ci`) or cannot load; the
 * procfs source then reads /proc/net/tcp.
 */
const native = nativeAddon<Addon>(() =>
  typeof require === "function"
    ? require("../../../build/Release/sock_diag.node")
    : createRequire(import.meta.url)("../../../build/Release/sock_diag.node"),
);

export function sockDiag(): Addon | null {
  return native.get();
}

export function sockDiagLoadError(): string {
  return native.error();
}

const IPPROTO_UDP = 17;

/** The inodes of every UDP socket of our namespace (both families): sockets that never become TCP. */
export function udpInodes(): Set<number> {
  const out = new Set<number>();
  for (const f of [AF_INET, AF_INET6]) {
    for (const e of parseReply(call(dumpRequest(f, 0xffffffff, undefined, IPPROTO_UDP)), true))
      out.add(e.inode);
  }
  return out;
}

/**
 * Whether the one-walk request works here (undefined: not tried yet). A kernel that refuses it (EINVAL,
 * ENOENT, EOPNOTSUPP: built without the old interface) is asked per family from then on.
 */
let bothAtOnce: boolean | undefined;
const NO_COMPAT = new Set(["EINVAL", "ENOENT", "EOPNOTSUPP", "EPROTONOSUPPORT"]);

/** TCP sockets of both families in `states` whose remote port is in `ports` (all ports if empty). */
export function listSockets(states: number, ports: readonly number[]): DiagEntry[] {
  const filter = ports.length > 0 ? portFilter(ports) : undefined;
  if (bothAtOnce !== false) {
    try {
      const out = parseReply(call(bothFamiliesRequest(states, filter)), true);
      bothAtOnce = true;
      return out;
    } catch (err) {
      if (bothAtOnce === true || !(err instanceof SockDiagError) || !NO_COMPAT.has(err.code)) throw err;
      bothAtOnce = false;
    }
  }
  return [AF_INET, AF_INET6].flatMap((f) => parseReply(call(dumpRequest(f, states, filter)), true));
}

/** How TCP dumps are asked for: "one walk" (both families at once), "per family", or not yet known. */
export function dumpMode(): "one walk" | "per family" | undefined {
  return bothAtOnce === undefined ? undefined : bothAtOnce ? "one walk" : "per family";
}
