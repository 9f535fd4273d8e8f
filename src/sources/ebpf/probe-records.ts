import { decodeUtf8Escaped } from "../../bytes.ts";
import { formatAddress } from "../procfs/proc-net.ts";
import { type CountedDestination, type KeptExec, TCP_STATES } from "../types.ts";
import type { KernelEvent } from "./kernel-table.ts";

/**
 * The records of the BPF program (native/probe.h, little-endian on every architecture this runs on) as
 * KernelEvents (a TCP socket's transitions: `struct probe_record`, 136 bytes) and ClientEvents (an SSH
 * client's connect to a unix socket, and its exit: `struct probe_client_record`, 248 bytes). Both have
 * `kind` at the same offset, which tells the size of each record in the stream. Times are CLOCK_MONOTONIC; `toWall` turns them
 * into wall-clock ns. A record of an unknown kind is counted, not guessed at.
 */
export const RECORD_SIZE = 136;
export const CLIENT_RECORD_SIZE = 248;
export const RECORD_VERSION = 4;

const KIND = { connect: 1, established: 2, close: 3, unixConnect: 4, exit: 5, banner: 6 } as const;

/** Why the program chose a connect (native/probe.h, enum probe_via; a ProxyCommand's child is a client's). */
const VIA = [undefined, "port", "client", "client", "protocol"] as const;

/** The longest identification string RFC 4253 allows, CR LF included. */
const BANNER_MAX = 255;

/** What the probe says about SSH client processes, for sessions over a control master (mux.ts). */
export type ClientEvent =
  | {
      kind: "unix-connect";
      pid: number;
      uid: number;
      ppid: number;
      comm: string;
      parentComm: string;
      /** The address given to connect(): a path, or "@name" for an abstract one. */
      path: string;
      timeNs: bigint;
    }
  | { kind: "exit"; pid: number; comm: string; timeNs: bigint };
const AF_INET6 = 10;

const at = {
  sk: 0,
  time: 8,
  bytesAcked: 16,
  bytesReceived: 24,
  inode: 32,
  kind: 40,
  pid: 44,
  tid: 48,
  uid: 52,
  ppid: 56,
  netns: 60,
  family: 64,
  sport: 66,
  dport: 68,
  oldState: 70,
  saddr: 72,
  daddr: 88,
  comm: 104,
  pcomm: 120,
  path: 136,
} as const;

const PATH_LEN = 112;

/** sun_path: NUL-terminated; an abstract name starts with a NUL and is shown with "@". */
function unixPath(b: Buffer, off: number): string {
  const abstract = b[off] === 0;
  const from = abstract ? off + 1 : off;
  const end = b.indexOf(0, from);
  const to = end < 0 || end > off + PATH_LEN ? off + PATH_LEN : end;
  return `${abstract ? "@" : ""}${decodeUtf8Escaped(b.subarray(from, to))}`;
}

/**
 * An identification string ("SSH-2.0-OpenSSH_9.2p1 Debian-2"): the bytes up to its line's end, at most
 * what the program kept (PATH_LEN of a packet of `length` bytes). One that goes on past them, or past
 * the RFC's 255 bytes, ends in "…" (cut). Decoded as other untrusted text (bytes that are not UTF-8
 * kept, escaped when written).
 */
export function bannerText(kept: Buffer, length: number): string {
  const have = kept.subarray(0, Math.min(kept.length, length));
  const lf = have.indexOf(0x0a);
  let line = lf < 0 ? have : have.subarray(0, lf);
  if (line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
  const cut = lf < 0 && (length > have.length || have.length >= BANNER_MAX);
  return decodeUtf8Escaped(line) + (cut ? "…" : "");
}

/**
 * A task name: up to 16 bytes, NUL-terminated, decoded as the enricher decodes /proc/PID/stat's (bytes
 * that are not UTF-8 kept), so the two compare equal for the same task.
 */
function comm(b: Buffer, off: number): string {
  const end = b.indexOf(0, off);
  return decodeUtf8Escaped(b.subarray(off, end < 0 || end > off + 16 ? off + 16 : end));
}

/** An address as the rest of the source writes it: IPv4-mapped IPv6 is given as IPv4. */
function address(b: Buffer, off: number, family: number): { ip: string; family: "ipv4" | "ipv6" } {
  // IPv4, the usual case, without an array in between: records come by the thousand in a flood.
  if (family !== AF_INET6)
    return { ip: `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`, family: "ipv4" };
  return formatAddress([...b.subarray(off, off + 16)]);
}

/** The kernel's socket address as hex, from its two halves (no BigInt for an id). */
function hex64(b: Buffer, off: number): string {
  const hi = b.readUInt32LE(off + 4);
  const lo = b.readUInt32LE(off).toString(16);
  return hi === 0 ? lo : hi.toString(16) + lo.padStart(8, "0");
}

export function parseProbeRecords(
  buf: Buffer,
  toWall: (monoNs: bigint) => bigint,
  unknown: () => void = () => undefined,
): (KernelEvent | ClientEvent)[] {
  const out: (KernelEvent | ClientEvent)[] = [];
  for (let o = 0, size = RECORD_SIZE; o + RECORD_SIZE <= buf.length; o += size) {
    const kind = buf.readUInt32LE(o + at.kind);
    size =
      kind === KIND.unixConnect || kind === KIND.exit || kind === KIND.banner
        ? CLIENT_RECORD_SIZE
        : RECORD_SIZE;
    if (o + size > buf.length) break;
    const sk = hex64(buf, o + at.sk);
    const timeNs = toWall(buf.readBigUInt64LE(o + at.time));
    const family = buf.readUInt16LE(o + at.family);
    if (kind === KIND.connect) {
      const dst = address(buf, o + at.daddr, family);
      const via = VIA[buf.readUInt16LE(o + at.oldState)];
      out.push({
        kind: "connect",
        ...(via ? { via } : {}),
        sk,
        pid: buf.readUInt32LE(o + at.pid),
        tid: buf.readUInt32LE(o + at.tid),
        uid: buf.readUInt32LE(o + at.uid),
        ppid: buf.readUInt32LE(o + at.ppid),
        parentComm: comm(buf, o + at.pcomm),
        netns: buf.readUInt32LE(o + at.netns),
        inode: Number(buf.readBigUInt64LE(o + at.inode)),
        family: dst.family,
        dport: buf.readUInt16LE(o + at.dport),
        daddr: dst.ip,
        timeNs,
        comm: comm(buf, o + at.comm),
      });
    } else if (kind === KIND.established) {
      const src = address(buf, o + at.saddr, family);
      out.push({ kind: "established", sk, sport: buf.readUInt16LE(o + at.sport), saddr: src.ip, timeNs });
    } else if (kind === KIND.close) {
      const src = address(buf, o + at.saddr, family);
      const dst = address(buf, o + at.daddr, family);
      out.push({
        kind: "close",
        sk,
        oldState: TCP_STATES[buf.readUInt16LE(o + at.oldState)] ?? "UNKNOWN",
        bytesAcked: Number(buf.readBigUInt64LE(o + at.bytesAcked)),
        bytesReceived: Number(buf.readBigUInt64LE(o + at.bytesReceived)),
        timeNs,
        family: dst.family,
        sport: buf.readUInt16LE(o + at.sport),
        dport: buf.readUInt16LE(o + at.dport),
        netns: buf.readUInt32LE(o + at.netns),
        saddr: src.ip,
        daddr: dst.ip,
      });
    } else if (kind === KIND.unixConnect) {
      out.push({
        kind: "unix-connect",
        pid: buf.readUInt32LE(o + at.pid),
        uid: buf.readUInt32LE(o + at.uid),
        ppid: buf.readUInt32LE(o + at.ppid),
        comm: comm(buf, o + at.comm),
        parentComm: comm(buf, o + at.pcomm),
        path: unixPath(buf, o + at.path),
        timeNs,
      });
    } else if (kind === KIND.banner) {
      out.push({
        kind: "banner",
        sk,
        side: buf.readUInt16LE(o + at.oldState) === 1 ? "client" : "server",
        // bytes_received: how many of the kept bytes are the payload's, when fewer than it and the room.
        text: bannerText(
          buf.subarray(
            o + at.path,
            o + at.path + Math.min(PATH_LEN, Number(buf.readBigUInt64LE(o + at.bytesReceived)) || PATH_LEN),
          ),
          Number(buf.readBigUInt64LE(o + at.bytesAcked)),
        ),
        timeNs,
      });
    } else if (kind === KIND.exit) {
      out.push({ kind: "exit", pid: buf.readUInt32LE(o + at.pid), comm: comm(buf, o + at.comm), timeNs });
    } else unknown();
  }
  return out;
}

/** A user's totals of connects the program counted instead of sending (since it was loaded). */
export interface UserAttempts {
  uid: number;
  count: number;
  lastNs: bigint;
  /** Of `count`, those not in the per-destination counts (that map was full). */
  unlisted: number;
}

/** Connects to one destination by one user, counted by the program since the last reading. */
export interface DestinationAttempts extends CountedDestination {
  uid: number;
}

/** `struct probe_user_attempts` after its uid (and 4 bytes of padding). */
export const USER_ATTEMPTS_SIZE = 32;
/** `struct probe_attempt_key` then `struct probe_attempts`. */
export const ATTEMPTS_SIZE = 72;

/** The addon's `attempts()` rows (native/probe.c), times turned to wall-clock ns by `toWall`. */
export function parseAttempts(
  rows: { users: Buffer; destinations: Buffer },
  toWall: (monoNs: bigint) => bigint,
): { users: UserAttempts[]; destinations: DestinationAttempts[] } {
  const users: UserAttempts[] = [];
  const u = rows.users;
  for (let o = 0; o + USER_ATTEMPTS_SIZE <= u.length; o += USER_ATTEMPTS_SIZE) {
    users.push({
      uid: u.readUInt32LE(o),
      count: Number(u.readBigUInt64LE(o + 8)),
      lastNs: toWall(u.readBigUInt64LE(o + 16)),
      unlisted: Number(u.readBigUInt64LE(o + 24)),
    });
  }
  const destinations: DestinationAttempts[] = [];
  const d = rows.destinations;
  for (let o = 0; o + ATTEMPTS_SIZE <= d.length; o += ATTEMPTS_SIZE) {
    const dst = address(d, o + 8, d.readUInt16LE(o + 4));
    destinations.push({
      uid: d.readUInt32LE(o),
      remote: { ip: dst.ip, port: d.readUInt16LE(o + 6) },
      count: Number(d.readBigUInt64LE(o + 24)),
      firstNs: toWall(d.readBigUInt64LE(o + 32)),
      lastNs: toWall(d.readBigUInt64LE(o + 40)),
      pid: d.readUInt32LE(o + 48),
      comm: comm(d, o + 56),
    });
  }
  return { users, destinations };
}

/** `struct probe_exec` (native/probe.h): what the program kept of one exec. */
export const EXEC_SIZE = 696;
const EXEC_ARGS = 512;

/** The kernel's "not set" for a loginuid or an audit session ((u32)-1). */
const UNSET = 0xffffffff;

/** Nanoseconds in a clock tick of /proc/PID/stat's start time (USER_HZ, 100 on every architecture). */
const TICK_NS = 10_000_000n;

/**
 * What the program kept of a process's exec and of its ancestors' (the process first), as the source
 * hands it on: argv decoded as /proc's is (NUL-separated; bytes that are not UTF-8 kept), the start time
 * in clock ticks since boot as /proc/PID/stat gives it. Plain numbers and strings: it may be saved in
 * the state file with the socket it belongs to.
 */
export function parseExecChain(buf: Buffer): KeptExec[] {
  const out: KeptExec[] = [];
  for (let o = 0; o + EXEC_SIZE <= buf.length; o += EXEC_SIZE) {
    const argsLen = Math.min(buf.readUInt32LE(o + 24), EXEC_ARGS);
    const argsTotal = buf.readUInt32LE(o + 28);
    let kept = buf.subarray(o + 176, o + 176 + argsLen);
    const whole = argsLen >= argsTotal;
    if (whole && kept[kept.length - 1] === 0) kept = kept.subarray(0, kept.length - 1);
    const e: KeptExec = {
      pid: buf.readUInt32LE(o + 8),
      ppid: buf.readUInt32LE(o + 12),
      uid: buf.readUInt32LE(o + 16),
      euid: buf.readUInt32LE(o + 20),
      startTicks: Number(buf.readBigUInt64LE(o) / TICK_NS),
      comm: comm(buf, o + 32),
      args: kept.length === 0 ? [] : decodeUtf8Escaped(kept).split("\0"),
    };
    const file = buf.subarray(o + 48, o + 176);
    const end = file.indexOf(0);
    if (end !== 0) e.executable = decodeUtf8Escaped(file.subarray(0, end < 0 ? file.length : end));
    if (!whole) e.argsBytes = argsTotal;
    const loginUid = buf.readUInt32LE(o + 688);
    const session = buf.readUInt32LE(o + 692);
    if (loginUid !== UNSET) e.loginUid = loginUid;
    if (session !== UNSET) e.auditSession = session;
    out.push(e);
  }
  return out;
}
