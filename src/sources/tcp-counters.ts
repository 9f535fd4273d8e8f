import { readText } from "../proc-io.ts";

/**
 * TCP's ActiveOpens counter for our network namespace (/proc/self/net/snmp, both families): it goes up
 * at every connect() that sends a SYN, after the socket is in the kernel's tables. While it has not
 * moved, no outbound connection was started, and the procfs source need not dump the socket table.
 * Undefined when the file cannot be read or parsed.
 */
export function activeOpens(path = "/proc/self/net/snmp"): number | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  const lines = text.split("\n").filter((l) => l.startsWith("Tcp:"));
  const names = lines[0]?.split(/\s+/);
  const values = lines[1]?.split(/\s+/);
  const i = names?.indexOf("ActiveOpens") ?? -1;
  const v = i > 0 ? Number(values?.[i]) : Number.NaN;
  return Number.isFinite(v) ? v : undefined;
}
