import { type EcsContext, toEcs } from "./ecs.ts";
import type { LogRecord } from "./record.ts";

/** One JSON object per line. JSON.stringify escapes every control character, so no value can break a line. */
export function formatJson(r: LogRecord, ctx: EcsContext): string {
  return `${JSON.stringify(toEcs(r, ctx))}\n`;
}
