import { PROC, readText, socketInodes } from "../proc-io.ts";
import { Listeners } from "../sources/direction.ts";
import { type ProcNetEntry, parseProcNet } from "../sources/procfs/proc-net.ts";

/** The names OpenSSH's server runs under: `sshd` (up to 9.7) and `sshd-session` (9.8 on) for a session. */
const SERVER = new Set(["sshd", "sshd-session"]);

export function isSshServer(name: string | undefined): boolean {
  return name !== undefined && SERVER.has(name);
}

/** Where a session of this host's sshd came from, and the address it came to (`local`). */
export interface SessionOrigin {
  ip: string;
  port: number;
  local: { ip: string; port: number };
}

/**
 * The session an outbound connection of our sshd serves: a forward (`ssh -J thishost`, `-L`, `-W`)
 * is opened by the session's own process, which also holds the session's inbound TCP connection, the
 * one whose local port this namespace listens on. Its remote end is where the session came from.
 * Undefined when the process is gone or holds no such connection.
 */
const NONE: ReadonlySet<number> = new Set();

export function sessionOrigin(pid: number, outboundInode: number | undefined): SessionOrigin | undefined {
  const held = new Set(socketInodes(pid).filter((ino) => ino !== outboundInode));
  if (held.size === 0) return undefined;
  // Both tables before deciding: a listener on [::] shows in tcp6 while its IPv4 sessions show in tcp.
  const listens = new Listeners();
  const entries: ProcNetEntry[] = [];
  for (const table of ["tcp", "tcp6"]) {
    const text = readText(`${PROC}/${pid}/net/${table}`);
    if (text === undefined) continue;
    const parsed = parseProcNet(text, {
      keep: (_port, state, inode) => state === "ESTABLISHED" && held.has(inode),
    });
    for (const l of parsed.listening) listens.add(l.ip, l.port);
    entries.push(...parsed.entries);
  }
  const inbound = entries.find((e) =>
    listens.inbound({ ip: e.localIp, port: e.localPort }, { ip: e.remoteIp, port: e.remotePort }, NONE),
  );
  if (inbound) {
    return {
      ip: inbound.remoteIp,
      port: inbound.remotePort,
      local: { ip: inbound.localIp, port: inbound.localPort },
    };
  }
  return undefined;
}
