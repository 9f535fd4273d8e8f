import { TCP_STATES, type TcpState } from "../types.ts";

/**
 * Parser for /proc/net/tcp and /proc/net/tcp6 (format: net/ipv4/tcp_ipv4.c get_tcp4_sock and
 * net/ipv6/tcp_ipv6.c get_tcp6_sock). Addresses are printed as host-order 32-bit words in hex, so on a
 * little-endian machine each word's bytes come reversed; ports are printed in plain hex.
 */

export interface ProcNetEntry {
  family: "ipv4" | "ipv6";
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  state: TcpState;
  uid: number;
  inode: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function wordBytes(hex: string, offset: number, out: number[]): void {
  const b = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(offset + i, offset + i + 2), 16));
  if (LITTLE_ENDIAN) b.reverse();
  out.push(...(b as [number, number, number, number]));
}

/** Bytes of an address as /proc prints it: 8 hex digits (IPv4) or 32 (IPv6). */
export function addressBytes(hex: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hex.length; i += 8) wordBytes(hex, i, out);
  return out;
}

export function formatIPv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/**
 * Text form of an address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, an AF_INET6 socket talking
 * IPv4) is given as the IPv4 address, since that is what goes on the wire and what the user typed.
 */
export function formatAddress(bytes: readonly number[]): { ip: string; family: "ipv4" | "ipv6" } {
  if (bytes.length === 4) return { ip: bytes.join("."), family: "ipv4" };
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return { ip: bytes.slice(12).join("."), family: "ipv4" };
  return { ip: formatIPv6(bytes), family: "ipv6" };
}

export function decodeAddress(hex: string): { ip: string; family: "ipv4" | "ipv6" } {
  return formatAddress(addressBytes(hex));
}

export interface ParseFilter {
  /** Called with the remote port, state and inode before any address is decoded; false skips the line. */
  keep(remotePort: number, state: TcpState, inode: number, localPort: number): boolean;
}

const KEEP_ALL: ParseFilter = { keep: () => true };

/**
 * Parses the text of /proc/net/tcp or tcp6. Malformed lines are counted, not thrown: a line cut by a
 * concurrent change of the table must not stop the rest from being read.
 */
export function parseProcNet(
  text: string,
  filter: ParseFilter = KEEP_ALL,
): { entries: ProcNetEntry[]; malformed: number; listening: { ip: string; port: number }[] } {
  const entries: ProcNetEntry[] = [];
  const listening: { ip: string; port: number }[] = [];
  let malformed = 0;
  let start = text.indexOf("\n") + 1; // skip the header
  while (start > 0 && start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === "") continue;
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const remote = f[2];
    const st = f[3];
    const uid = f[7];
    const inode = f[9];
    if (local === undefined || remote === undefined || st === undefined || uid === undefined || !inode) {
      malformed++;
      continue;
    }
    const lc = local.indexOf(":");
    const rc = remote.indexOf(":");
    const localPort = Number.parseInt(local.slice(lc + 1), 16);
    const remotePort = Number.parseInt(remote.slice(rc + 1), 16);
    const state = TCP_STATES[Number.parseInt(st, 16)] ?? "UNKNOWN";
    const ino = Number(inode);
    if (lc < 0 || rc < 0 || Number.isNaN(localPort) || Number.isNaN(remotePort) || Number.isNaN(ino)) {
      malformed++;
      continue;
    }
    if (state === "LISTEN") listening.push({ ip: decodeAddress(local.slice(0, lc)).ip, port: localPort });
    if (!filter.keep(remotePort, state, ino, localPort)) continue;
    const l = decodeAddress(local.slice(0, lc));
    const r = decodeAddress(remote.slice(0, rc));
    entries.push({
      family: r.family,
      localIp: l.ip,
      localPort,
      remoteIp: r.ip,
      remotePort,
      state,
      uid: Number(uid),
      inode: ino,
    });
  }
  return { entries, malformed, listening };
}
