/**
 * Holes in the daemon's record numbers. Every record carries its run (`agent.ephemeral_id`) and its
 * number in that run (`event.sequence`, from 1). A number between the lowest and the highest seen of a
 * run that is not in the files is a record written by the daemon and lost after it: on the way to a
 * collector, or deleted. The ends are not judged (files may begin or end inside a run on purpose).
 * A run's numbers are kept as a bit set: a million records take 125 kB.
 */
export interface SequenceHoles {
  host: string;
  run: string;
  /** Missing numbers as [from, to] ranges, in order. */
  ranges: [number, number][];
  missing: number;
}

/** One run's numbers as a SequenceCheck holds them (sent from a worker as they are). */
export interface Run {
  host: string;
  bits: Uint8Array;
  min: number;
  max: number;
}

// Searched for from their first letter: V8 looks for a pattern's first character first, and a quote
// would stop it at every key and value before (a collector's files hold millions of lines).
const SEQUENCE = 'sequence":';
const RUN = 'ephemeral_id":"';

/**
 * A record line's run (`agent.ephemeral_id`) and number in it (`event.sequence`), found as the daemon
 * lays a record out: `event` near the start and `agent` at the end; in JSON a quote inside a string is
 * escaped, so these occur only as keys. Undefined for lines without them (older daemons, text).
 */
export function numbered(line: string): { run: string; seq: number } | undefined {
  const r = line.lastIndexOf(RUN);
  if (r < 1 || line.charCodeAt(r - 1) !== 34 /* " */) return undefined;
  const at = line.indexOf(SEQUENCE);
  if (at < 1 || line.charCodeAt(at - 1) !== 34) return undefined;
  const seq = Number.parseInt(line.slice(at + SEQUENCE.length, at + SEQUENCE.length + 16), 10);
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { run: line.slice(r + RUN.length, line.indexOf('"', r + RUN.length)), seq };
}

export class SequenceCheck {
  readonly runs = new Map<string, Run>();

  /** Takes in the numbers another check saw (a worker's, over other parts of the files). */
  merge(runs: ReadonlyMap<string, Run>): void {
    for (const [id, other] of runs) {
      const run = this.runs.get(id);
      if (!run) {
        this.runs.set(id, other);
        continue;
      }
      if (other.bits.length > run.bits.length) {
        const grown = new Uint8Array(other.bits.length);
        grown.set(run.bits);
        run.bits = grown;
      }
      for (let i = 0; i < other.bits.length; i++)
        run.bits[i] = (run.bits[i] as number) | (other.bits[i] as number);
      run.min = Math.min(run.min, other.min);
      run.max = Math.max(run.max, other.max);
    }
  }

  /** Notes a record line (see numbered(); a line without a number is ignored). */
  add(line: string, host: () => string): void {
    const n = numbered(line);
    if (!n) return;
    const { run: id, seq } = n;
    let run = this.runs.get(id);
    if (!run) {
      run = { host: host(), bits: new Uint8Array(1024), min: seq, max: seq };
      this.runs.set(id, run);
    }
    const byte = seq >> 3;
    if (byte >= run.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, run.bits.length * 2));
      grown.set(run.bits);
      run.bits = grown;
    }
    run.bits[byte] = (run.bits[byte] as number) | (1 << (seq & 7));
    run.min = Math.min(run.min, seq);
    run.max = Math.max(run.max, seq);
  }

  /** Every run with a hole, in the order the runs were first seen. */
  holes(): SequenceHoles[] {
    const out: SequenceHoles[] = [];
    for (const [id, run] of this.runs) {
      const ranges: [number, number][] = [];
      let missing = 0;
      for (let s = run.min; s <= run.max; s++) {
        if (((run.bits[s >> 3] as number) & (1 << (s & 7))) !== 0) continue;
        missing++;
        const last = ranges.at(-1);
        if (last && last[1] === s - 1) last[1] = s;
        else ranges.push([s, s]);
      }
      if (missing > 0) out.push({ host: run.host, run: id, ranges, missing });
    }
    return out;
  }
}

/** `web1 (11111111) run 019ac3f2…: 7, 12–14` */
export function holesLine(h: SequenceHoles): string {
  const shown = h.ranges.slice(0, 10).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`));
  const more = h.ranges.length > 10 ? `, … (${h.ranges.length - 10} more ranges)` : "";
  return `${h.host} run ${h.run.slice(0, 8)}…: ${shown.join(", ")}${more}`;
}

/** What closes a hole: the command to run on the host that wrote the records (see resend.ts). */
export function resendLine(h: SequenceHoles, name: string): string {
  const seq = h.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");
  return `on ${h.host}: ${name} resend --run ${h.run} --seq ${seq}`;
}
