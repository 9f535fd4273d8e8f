import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

/**
 * Community ID flow hash, version 1 (https://github.com/corelight/community-id-spec):
 * base64(sha1(seed:u16be · saddr · daddr · proto:u8 · 0:u8 · sport:u16be · dport:u16be)), prefixed "1:",
 * with the endpoints ordered so both directions of a flow hash alike (smaller address first, the port
 * deciding a tie).
 */

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip)) throw new TypeError(`not an IP address: ${ip}`);
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = (v4[1] as string).split(".").map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

export const PROTO_TCP = 6;

export function communityId(
  src: { ip: string; port: number },
  dst: { ip: string; port: number },
  proto = PROTO_TCP,
  seed = 0,
): string {
  let a = ipBytes(src.ip);
  let b = ipBytes(dst.ip);
  let ap = src.port;
  let bp = dst.port;
  const cmp = Buffer.compare(a, b);
  if (cmp > 0 || (cmp === 0 && ap > bp)) {
    [a, b] = [b, a];
    [ap, bp] = [bp, ap];
  }
  const head = Buffer.alloc(2);
  head.writeUInt16BE(seed);
  const tail = Buffer.alloc(6);
  tail.writeUInt8(proto, 0);
  tail.writeUInt8(0, 1);
  tail.writeUInt16BE(ap, 2);
  tail.writeUInt16BE(bp, 4);
  const digest = createHash("sha1").update(head).update(a).update(b).update(tail).digest("base64");
  return `1:${digest}`;
}
