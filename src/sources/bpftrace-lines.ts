import { TCP_STATES, type TcpState } from "./types.ts";

/** One line of `bpftrace -f json` output, made sense of. */
export type BpfLine =
  | {
      kind: "syn";
      sk: string;
      pid: number;
      tid: number;
      uid: number;
      ppid: number;
      netns: number;
      inode: number;
      family: "ipv4" | "ipv6";
      dport: number;
      daddr: string;
      monoNs: bigint;
      comm: string;
    }
  | { kind: "pcomm"; sk: string; comm: string }
  | { kind: "est"; sk: string; sport: number; saddr: string; monoNs: bigint }
  | {
      kind: "close";
      sk: string;
      oldState: TcpState;
      bytesAcked: number;
      bytesReceived: number;
      monoNs: bigint;
      family: "ipv4" | "ipv6";
      sport: number;
      dport: number;
      netns: number;
      saddr: string;
      daddr: string;
    }
  | { kind: "attached"; probes: number }
  | { kind: "lost"; events: number }
  | { kind: "other"; text: string };

const AF_INET6 = 10;

/**
 * For AF_INET sockets the tracepoint fills the v4 field; AF_INET6 ones the v6 field, where an
 * IPv4-mapped address (::ffff:a.b.c.d) means IPv4 on the wire: given as IPv4, as the procfs source does.
 */
function pickAddress(family: number, v4: string, v6: string): { ip: string; family: "ipv4" | "ipv6" } {
  if (family !== AF_INET6) return { ip: v4, family: "ipv4" };
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v6);
  return mapped ? { ip: mapped[1] as string, family: "ipv4" } : { ip: v6, family: "ipv6" };
}

function parsePrintf(data: string): BpfLine | undefined {
  const text = data.endsWith("\n") ? data.slice(0, -1) : data;
  const tab = text.indexOf("\t");
  const head = (tab < 0 ? text : text.slice(0, tab)).split(" ");
  const tail = tab < 0 ? "" : text.slice(tab + 1);
  const n = (i: number) => Number(head[i]);
  switch (head[0]) {
    case "syn": {
      if (head.length !== 13 || tab < 0) return undefined;
      const a = pickAddress(n(8), head[10] as string, head[11] as string);
      return {
        kind: "syn",
        sk: head[1] as string,
        pid: n(2),
        tid: n(3),
        uid: n(4),
        ppid: n(5),
        netns: n(6),
        inode: n(7),
        family: a.family,
        dport: n(9),
        daddr: a.ip,
        monoNs: BigInt(head[12] as string),
        comm: tail,
      };
    }
    case "pcomm":
      return head.length === 2 && tab >= 0 ? { kind: "pcomm", sk: head[1] as string, comm: tail } : undefined;
    case "est":
      if (head.length !== 7) return undefined;
      return {
        kind: "est",
        sk: head[1] as string,
        sport: n(2),
        saddr: pickAddress(n(3), head[4] as string, head[5] as string).ip,
        monoNs: BigInt(head[6] as string),
      };
    case "close": {
      if (head.length !== 14) return undefined;
      const s = pickAddress(n(6), head[10] as string, head[11] as string);
      const d = pickAddress(n(6), head[12] as string, head[13] as string);
      return {
        kind: "close",
        sk: head[1] as string,
        oldState: TCP_STATES[n(2)] ?? "UNKNOWN",
        bytesAcked: n(3),
        bytesReceived: n(4),
        monoNs: BigInt(head[5] as string),
        family: d.family,
        sport: n(7),
        dport: n(8),
        netns: n(9),
        saddr: s.ip,
        daddr: d.ip,
      };
    }
    default:
      return undefined;
  }
}

/** Never throws: anything it cannot read comes back as `other`, for the caller to count and show. */
export function parseBpftraceLine(line: string): BpfLine {
  let msg: { type?: string; data?: unknown };
  try {
    msg = JSON.parse(line);
  } catch {
    return { kind: "other", text: line };
  }
  try {
    if (msg.type === "printf" && typeof msg.data === "string") {
      return parsePrintf(msg.data) ?? { kind: "other", text: line };
    }
    if (msg.type === "attached_probes") {
      return { kind: "attached", probes: Number((msg.data as { probes?: number }).probes ?? 0) };
    }
    if (msg.type === "lost_events") {
      return { kind: "lost", events: Number((msg.data as { events?: number }).events ?? 0) };
    }
  } catch {
    // fall through
  }
  return { kind: "other", text: line };
}

/** Splits a byte stream into complete lines, keeping a partial last line for the next chunk. */
export class LineSplitter {
  private rest = "";

  push(chunk: string, onLine: (line: string) => void): void {
    const text = this.rest + chunk;
    let start = 0;
    let nl = text.indexOf("\n", start);
    while (nl >= 0) {
      const line = text.slice(start, nl);
      if (line.trim() !== "") onLine(line);
      start = nl + 1;
      nl = text.indexOf("\n", start);
    }
    this.rest = text.slice(start);
  }

  /** What is left without a newline (a cut last line), for the caller to report. */
  flush(): string {
    const r = this.rest;
    this.rest = "";
    return r;
  }
}
