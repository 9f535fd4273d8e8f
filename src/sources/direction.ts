import type { Endpoint } from "./types.ts";

/**
 * Which of a namespace's TCP sockets were accepted (inbound) rather than connected (outbound). Linux
 * keeps no per-socket flag that /proc or sock_diag shows, so the polling path reads it from the
 * listening sockets, by facts an unprivileged user cannot bend into hiding an outbound connection:
 *   - an accepted socket's local end is its listener's: the same address and port, or the port of a
 *     listener bound to the wildcard address. A port that is listened on *somewhere* says nothing: a
 *     connection from 127.0.0.2:40000 while 127.0.0.1:40000 listens is outbound;
 *   - a socket whose remote end is a listener of this namespace is the client of that listener;
 *   - a socket to a watched SSH port is taken as outbound even when a wildcard listener (which a user
 *     can share with SO_REUSEPORT) has its local port. The inbound connection that rule would take
 *     for outbound needs its peer to connect *from* port 22 (root on that peer): an extra record
 *     with the truth in it, where the other reading would be a missing one.
 * A socket seen connecting (SYN_SENT) is outbound whatever its ports; the eBPF source sees every
 * connect and needs none of this but for the sockets open before it started.
 */
export class Listeners {
  private readonly byPort = new Map<number, Set<string>>();

  add(ip: string, port: number): void {
    let ips = this.byPort.get(port);
    if (!ips) {
      ips = new Set();
      this.byPort.set(port, ips);
    }
    ips.add(ip);
  }

  get size(): number {
    return this.byPort.size;
  }

  /** A listener would have accepted a connection to `end`: same address, or the wildcard. */
  private serves(end: Endpoint): boolean {
    const ips = this.byPort.get(end.port);
    if (!ips) return false;
    if (ips.has(end.ip) || ips.has("::")) return true;
    return !end.ip.includes(":") && ips.has("0.0.0.0");
  }

  /** The remote end is a listener here: only on an address of ours, and loopback is the one we know. */
  private isLocalServer(end: Endpoint): boolean {
    const ips = this.byPort.get(end.port);
    if (!ips) return false;
    return ips.has(end.ip) || (isLoopback(end.ip) && this.serves(end));
  }

  inbound(local: Endpoint, remote: Endpoint, watchedPorts: ReadonlySet<number>): boolean {
    if (!this.serves(local)) return false;
    if (watchedPorts.has(remote.port)) return false;
    return !this.isLocalServer(remote);
  }
}

function isLoopback(ip: string): boolean {
  return ip.startsWith("127.") || ip === "::1";
}
