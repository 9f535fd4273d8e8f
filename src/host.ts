import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Who this host is, for every record: its name (as `hostname` says) and its machine id
 * (/etc/machine-id, systemd's stable id of the installation), so that two hosts that share a name
 * stay apart in a collector's files. Read once.
 */
export interface HostIdentity {
  hostname: string;
  /** 32 lower-case hex digits; absent when the machine has none. */
  id?: string;
}

let cached: HostIdentity | undefined;

export function hostIdentity(): HostIdentity {
  if (cached) return cached;
  const h: HostIdentity = { hostname: hostname() };
  for (const path of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    try {
      const id = readFileSync(path, "utf8").trim().toLowerCase();
      if (/^[0-9a-f]{32}$/.test(id)) {
        h.id = id;
        break;
      }
    } catch {
      // not there: try the next, or go without
    }
  }
  cached = h;
  return h;
}
