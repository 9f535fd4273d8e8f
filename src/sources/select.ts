import type { Config } from "../config.ts";
import { ProcfsSource } from "./procfs.ts";
import type { Diagnostics, Source } from "./types.ts";

export interface Selected {
  source: Source;
  reason: string;
  /** Set when the source may give up for good: call it with the way to swap in a fallback. */
  fallback?: (degrade: (next: Source, reason: string) => Promise<void>) => void;
}

export async function selectSource(config: Config, diag: Diagnostics): Promise<Selected> {
  return {
    source: new ProcfsSource({ ...config, diag }),
    reason: config.source === "procfs" ? "chosen with --source procfs" : "procfs (default)",
  };
}
