import type { Diagnostics } from "./sources/types.ts";

/**
 * Diagnostics on stderr, one line each, prefixed so they can be told apart in a shared journal.
 * Never written to the event stream.
 */
export function stderrDiagnostics(prefix = "ssh-outbound-logger"): Diagnostics & { said: Set<string> } {
  const said = new Set<string>();
  const line = (level: string, message: string) => {
    process.stderr.write(`${prefix}: ${level}: ${message.replace(/\n/g, " ")}\n`);
  };
  return {
    said,
    info: (m) => line("info", m),
    warn: (m) => line("warning", m),
    once(key, m) {
      if (said.has(key)) return;
      said.add(key);
      line("warning", m);
    },
  };
}
