import { PROC, readText } from "../../proc-io.ts";
import { Listeners } from "../direction.ts";
import type { TcpState } from "../types.ts";
import { type ProcNetEntry, parseProcNet } from "./proc-net.ts";

/** States in which a socket is not (or no longer) an outbound connection of a process. */
export const IGNORED: ReadonlySet<TcpState> = new Set([
  "LISTEN",
  "TIME_WAIT",
  "CLOSE",
  "NEW_SYN_RECV",
  "SYN_RECV",
]);

/** One network namespace's sockets of interest, and its listeners. */
export interface Tables {
  entries: ProcNetEntry[];
  /** The namespace's listening sockets: which entries are inbound (see direction.ts). */
  listen: Listeners;
}

/**
 * /proc/PID/net/tcp and tcp6: every socket of the namespace PID is in, formatted as text by the kernel
 * (each read walks the kernel's whole connection table). `malformed` counts lines that did not parse.
 */
export function readProcTables(pid: number): Tables & { malformed: number } {
  const base = pid === process.pid ? `${PROC}/self/net` : `${PROC}/${pid}/net`;
  // A socket listening on [::] shows in tcp6 while its IPv4 sessions show in tcp: both tables'
  // listening ports count before deciding what is inbound.
  const listen = new Listeners();
  const entries: ProcNetEntry[] = [];
  let malformed = 0;
  for (const file of ["tcp", "tcp6"]) {
    const text = readText(`${base}/${file}`);
    if (text === undefined) continue; // the representative exited, or no IPv6: next tick will do
    const parsed = parseProcNet(text, {
      keep: (_remotePort, state, inode) => inode !== 0 && !IGNORED.has(state),
    });
    malformed += parsed.malformed;
    for (const l of parsed.listening) listen.add(l.ip, l.port);
    entries.push(...parsed.entries);
  }
  return { entries, listen, malformed };
}
