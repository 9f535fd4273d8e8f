import { BOUNDS, RECORD_MAX } from "./argv-bound.ts";
import { type EcsContext, toEcs } from "./ecs.ts";
import type { LogRecord } from "./record.ts";

/**
 * The daemon's run (ECS `agent.ephemeral_id`, a UUIDv7 made at start) and the number of records it
 * has formatted: every record carries both, numbered from 1 (`event.sequence`), so that a reader of a
 * collector's files can tell a record lost on the way (a hole in a run's numbers) from one never made.
 */
export interface RunSequence {
  id: string;
  written: number;
}

/**
 * One JSON object per line. JSON.stringify escapes every control character, so no value can break a
 * line. A record is never longer than RECORD_MAX: one that would be is made again with tighter bounds
 * (see BOUNDS), and says so in `ssh_outbound.record_cut` with the size it would have had.
 */
export function formatJson(r: LogRecord, ctx: EcsContext, run?: RunSequence): string {
  let first: number | undefined;
  let line = "";
  const sequence = run ? ++run.written : undefined;
  for (const bounds of BOUNDS) {
    const o = toEcs(r, { ...ctx, bounds });
    if (run) {
      (o.event as Record<string, unknown>).sequence = sequence;
      o.agent = { type: "ssh-outbound-logger", ephemeral_id: run.id };
    }
    if (first !== undefined) {
      const ours = o.ssh_outbound as Record<string, unknown> | undefined;
      if (ours) ours.record_cut = { bytes: first, max: RECORD_MAX };
    }
    line = `${JSON.stringify(o)}\n`;
    const size = Buffer.byteLength(line);
    if (size <= RECORD_MAX) return line;
    first ??= size;
  }
  return line;
}
