/**
 * What `report --paths` makes of the lines it reads, the same in the main thread and in a worker: each
 * connection record read by the field scanner (a line it cannot read parsed whole), the daemon's
 * numbering checked, lines that are not records counted.
 */
import { hostLabel } from "./by.ts";
import { scanConnection } from "./path-scan.ts";
import { type PathConn, pathConnOf } from "./paths.ts";
import { type SkipReason, toRecord } from "./records.ts";
import { SequenceCheck } from "./sequence.ts";

export class PathLines {
  readonly sequences = new SequenceCheck();
  readonly skipped: Partial<Record<SkipReason, number>> = {};

  /**
   * `copy` false: the connections' strings are slices of their lines, for a worker that sends them
   * (sending copies them) and keeps only the few still open.
   */
  constructor(
    private readonly emit: (c: PathConn) => void,
    private readonly copy = true,
  ) {}

  line(text: string, complete: boolean): void {
    let c = complete ? scanConnection(text, this.copy) : undefined;
    let host = (): string => (c && c !== "other" ? hostLabel(c) : "?");
    if (c === undefined) {
      const r = toRecord(text, complete);
      if (typeof r === "string") this.skipped[r] = (this.skipped[r] ?? 0) + 1;
      else {
        host = () => hostLabel(r);
        if (r.kind === "connection") c = pathConnOf(r);
      }
    }
    if (c !== undefined && c !== "other") this.emit(c);
    if (complete) this.sequences.add(text, host);
  }
}

/**
 * Connections sent from a worker as one flat array, WIRE entries each: a structured clone of objects
 * writes every key of every object, and of a million objects that was most of the cost.
 */
export const WIRE = 19;

export function toWire(c: PathConn, out: unknown[]): void {
  const l = c.login;
  out.push(
    c.id,
    c.action,
    c.start,
    c.end,
    c.host,
    c.hostId,
    c.user,
    c.process,
    c.communityId,
    c.via,
    c.targetHost,
    c.targetUser,
    c.destIp,
    c.destPort,
    l === undefined ? 0 : 1,
    l?.user,
    l?.entry,
    l?.communityId,
    l?.ip,
  );
  // The login's port rides in the presence flag: 1 + port.
  if (l?.port !== undefined) out[out.length - 5] = 1 + l.port;
}

/**
 * Names that repeat from one connection to the next (hosts, users, programs, addresses), one string
 * each: a million connections kept until the paths are joined would otherwise keep a million copies
 * of each, and the garbage collector walks every one of them again and again as the heap grows.
 */
export class Names {
  private readonly names = new Map<string, string>();

  of(s: string | undefined): string | undefined {
    if (s === undefined) return undefined;
    const had = this.names.get(s);
    if (had !== undefined) return had;
    // Bounded: a file of a million distinct names is kept as it is, not in this map too.
    if (this.names.size < 65_536) this.names.set(s, s);
    return s;
  }
}

/**
 * The connection at `i` of a wire array (see toWire). Every field is set, undefined where absent:
 * objects of one shape keep the joiner's code fast.
 */
export function fromWire(a: readonly unknown[], i: number, names: Names): PathConn {
  const s = (k: number) => a[i + k] as string | undefined;
  const login = a[i + 14] as number;
  return {
    id: s(0) as string,
    action: s(1) as PathConn["action"],
    start: s(2) as string,
    end: s(3),
    host: names.of(s(4)) as string,
    hostId: names.of(s(5)),
    user: names.of(s(6)),
    process: names.of(s(7)),
    communityId: s(8),
    via: names.of(s(9)),
    targetHost: names.of(s(10)),
    targetUser: names.of(s(11)),
    destIp: names.of(s(12)),
    destPort: a[i + 13] as number | undefined,
    login:
      login > 0
        ? {
            user: names.of(s(15)),
            entry: names.of(s(16)),
            communityId: s(17),
            ip: names.of(s(18)),
            port: login > 1 ? login - 1 : undefined,
          }
        : undefined,
  };
}
