import { readText } from "../../proc-io.ts";

/** TCP's counters for our network namespace (/proc/self/net/snmp; one set for both families). */
export interface TcpCounters {
  /** connect() calls that sent a SYN: up as soon as the socket is in the kernel's tables. */
  activeOpens: number;
  /** Connections accepted. */
  passiveOpens: number;
  /** Connects that failed (SYN_SENT or SYN_RECV to CLOSE). */
  attemptFails: number;
  /** Resets of established connections. */
  estabResets: number;
  /** Sockets in ESTABLISHED or CLOSE_WAIT now: it moves whenever one enters or leaves those states. */
  currEstab: number;
}

const FIELDS = {
  activeOpens: "ActiveOpens",
  passiveOpens: "PassiveOpens",
  attemptFails: "AttemptFails",
  estabResets: "EstabResets",
  currEstab: "CurrEstab",
} as const;

/** The counters now, or undefined when the file cannot be read or parsed. */
export function tcpCounters(path = "/proc/self/net/snmp"): TcpCounters | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  const lines = text.split("\n").filter((l) => l.startsWith("Tcp:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const out = {} as TcpCounters;
  for (const [key, name] of Object.entries(FIELDS) as [keyof TcpCounters, string][]) {
    const i = names.indexOf(name);
    const v = i > 0 ? Number(values[i]) : Number.NaN;
    if (!Number.isFinite(v)) return undefined;
    out[key] = v;
  }
  return out;
}

/**
 * True when, between two readings, no TCP socket of the namespace was opened, accepted, failed,
 * reset, or entered or left ESTABLISHED/CLOSE_WAIT (CurrEstab only moves then, and it cannot go up
 * without an open). So a socket that was ESTABLISHED at the first reading still is: nothing about it
 * needs asking the kernel again.
 */
export function nothingMoved(a: TcpCounters, b: TcpCounters): boolean {
  return (
    a.activeOpens === b.activeOpens &&
    a.passiveOpens === b.passiveOpens &&
    a.attemptFails === b.attemptFails &&
    a.estabResets === b.estabResets &&
    a.currEstab === b.currEstab
  );
}
