import { decodeUtf8Escaped } from "../../bytes.ts";
import {
  call,
  ENOENT,
  NLM_F_REQUEST,
  NLMSG_HDR,
  SOCK_DIAG_BY_FAMILY,
  SockDiagError,
  walkReply,
} from "./sock-diag.ts";

/**
 * AF_UNIX sockets through netlink sock_diag (linux/unix_diag.h), one socket by inode: what `ss -xp`
 * shows. It answers what /proc cannot: the socket at the other end of a connected pair (the peer),
 * and the path a socket is bound to. Same addon as the TCP listing; only the request and reply differ.
 */

const AF_UNIX = 1;
const UDIAG_SHOW_NAME = 0x01;
const UDIAG_SHOW_PEER = 0x04;
const UNIX_DIAG_NAME = 0;
const UNIX_DIAG_PEER = 2;
const REQ = 24;
const MSG = 16;

export interface UnixSocket {
  inode: number;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5. */
  type: number;
  /** TCP_ESTABLISHED 1 (connected), TCP_LISTEN 10, TCP_CLOSE 7 (unconnected). */
  state: number;
  /** The inode of the socket at the other end, for a connected one. */
  peer?: number;
  /** The bound path; an abstract name starts with "@". */
  name?: string;
}

/** The request for one socket by inode; the cookie is left unchecked (all ones), as `ss` does. */
export function unixLookupRequest(inode: number): Buffer {
  const msg = Buffer.alloc(NLMSG_HDR + REQ);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  msg.writeUInt16LE(NLM_F_REQUEST, 6);
  msg.writeUInt8(AF_UNIX, NLMSG_HDR);
  msg.writeUInt32LE(0xffffffff, NLMSG_HDR + 4);
  msg.writeUInt32LE(inode, NLMSG_HDR + 8);
  msg.writeUInt32LE(UDIAG_SHOW_NAME | UDIAG_SHOW_PEER, NLMSG_HDR + 12);
  msg.writeUInt32LE(0xffffffff, NLMSG_HDR + 16);
  msg.writeUInt32LE(0xffffffff, NLMSG_HDR + 20);
  return msg;
}

/** The unix_diag_msg records of a reply, with their peer and name attributes. */
export function parseUnixReply(reply: Buffer, dump: boolean): UnixSocket[] {
  const out: UnixSocket[] = [];
  walkReply(reply, dump, MSG, (m, end) => {
    const s: UnixSocket = {
      type: reply.readUInt8(m + 1),
      state: reply.readUInt8(m + 2),
      inode: reply.readUInt32LE(m + 4),
    };
    for (let a = m + MSG; a + 4 <= end; ) {
      const len = reply.readUInt16LE(a);
      const type = reply.readUInt16LE(a + 2);
      if (len < 4 || a + len > end) throw new SockDiagError("ESHORT", "unix_diag: attribute cut");
      const payload = reply.subarray(a + 4, a + len);
      if (type === UNIX_DIAG_PEER && payload.length >= 4) s.peer = payload.readUInt32LE(0);
      if (type === UNIX_DIAG_NAME && payload.length > 0) {
        // A path ends at its NUL (the kernel may count it in the address); an abstract name keeps its bytes.
        const nul = payload.indexOf(0, 1);
        s.name =
          payload[0] === 0
            ? `@${decodeUtf8Escaped(payload.subarray(1))}`
            : decodeUtf8Escaped(payload.subarray(0, nul < 0 ? payload.length : nul));
      }
      a += (len + 3) & ~3;
    }
    out.push(s);
  });
  return out;
}

/** The unix socket with this inode, or undefined when there is none (gone, or not a unix socket). */
export function lookupUnix(inode: number): UnixSocket | undefined {
  try {
    return parseUnixReply(call(unixLookupRequest(inode)), false)[0];
  } catch (err) {
    if (err instanceof SockDiagError && err.errno === ENOENT) return undefined;
    throw err;
  }
}
