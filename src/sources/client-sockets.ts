import { socketInodes } from "../proc-io.ts";

/**
 * The sockets held by SSH client processes, whatever port they connect to: the kernel's port filter
 * cannot see those, so the netlink path of the procfs source looks here. Every link is read at every
 * call: a descriptor number can be closed and reused for a new socket between two calls. An SSH client
 * holds a handful of descriptors, so this costs a few system calls per running client.
 *
 * @returns socket inode → pid, for the given client pids.
 */
export function clientSockets(pids: Iterable<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) for (const ino of socketInodes(pid, CLIENT_FDS)) out.set(ino, pid);
  return out;
}

/**
 * Descriptors looked at per client, per call: an SSH client opens its connection, its control socket
 * and its agent socket among its first descriptors (listed in numeric order), and what it holds beyond
 * (a SOCKS proxy's accepted connections) is inbound. A process named like a client holding thousands
 * costs the same as a real one (issue 19, attack 5).
 */
const CLIENT_FDS = 64;
