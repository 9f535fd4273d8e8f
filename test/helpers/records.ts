import { randomUUID } from "node:crypto";

/**
 * Log lines shaped as the daemon writes them (validated against the JSON Schema by the tests that
 * use them), for the report fixtures: rotation, truncation, gaps, overlapping sessions.
 */
export interface ConnOpts {
  id: string;
  action: "connection-opened" | "connection-closed" | "connection-failed";
  time: string;
  start?: string;
  user?: string;
  pid?: number;
  process?: string;
  host?: string;
  port?: number;
  typedHost?: string;
  typedUser?: string;
  sent?: number;
  received?: number;
  hostname?: string;
  /** network.community_id of this connection's flow. */
  communityId?: string;
  /** ssh_outbound.login: who logged in, how, and the flow the login came in on. */
  login?: { user: string; entry: string; communityId?: string; ip?: string; port?: number };
  /** ssh_outbound.user_changes. */
  changes?: { from: string; to: string; via: string }[];
  /** ssh_outbound.server_banner (and a client banner beside it), as the eBPF source writes them. */
  serverBanner?: string;
}

export function conn(o: ConnOpts): Record<string, unknown> {
  const ending = o.action !== "connection-opened";
  const start = o.start ?? o.time;
  const name = o.process ?? "ssh";
  const user = o.user ?? "alice";
  const port = o.port ?? 22;
  return {
    "@timestamp": o.time,
    ecs: { version: "8.17.0" },
    event: {
      kind: "event",
      category: ["network"],
      type: ["connection", ending ? "end" : "start"],
      action: o.action,
      outcome: o.action === "connection-failed" ? "failure" : "success",
      start,
      ...(ending ? { end: o.time, duration: (Date.parse(o.time) - Date.parse(start)) * 1e6 } : {}),
    },
    process: {
      pid: o.pid ?? 4242,
      name,
      executable: `/usr/bin/${name}`,
      args: [name, `${o.typedUser ?? user}@${o.typedHost ?? "db1.example.com"}`],
      args_count: 2,
      user: { id: "1000", name: user },
    },
    user: { id: "1000", name: user },
    source: { ip: "10.0.0.5", port: 50000, ...(o.sent !== undefined ? { bytes: o.sent } : {}) },
    destination: {
      ip: o.host ?? "10.0.0.9",
      port,
      ...(o.received !== undefined ? { bytes: o.received } : {}),
    },
    network: {
      transport: "tcp",
      iana_number: "6",
      type: "ipv4",
      direction: "egress",
      ...(o.communityId ? { community_id: o.communityId } : {}),
    },
    host: { hostname: o.hostname ?? "web1" },
    ssh_outbound: {
      connection_id: o.id,
      source: "ebpf",
      state: ending ? (o.action === "connection-failed" ? "SYN_SENT" : "FIN_WAIT1") : "ESTABLISHED",
      observed: "live",
      attribution: "complete",
      ancestry: [
        {
          pid: 1,
          name: "systemd",
          args: ["/sbin/init"],
          user: "root",
          start: "2026-11-01T00:00:00.000000000Z",
        },
        { pid: 900, name: "sshd", args: ["sshd: alice"], user: "root", start: start },
        { pid: 901, name: "bash", args: ["-bash"], user, start: start },
      ],
      target: {
        client: name,
        user: o.typedUser ?? user,
        host: o.typedHost ?? "db1.example.com",
        port,
        jump: [],
      },
      ...(o.login
        ? {
            login: {
              user: { id: "1000", name: o.login.user },
              session_id: 7,
              entry: o.login.entry,
              ...(o.login.ip ? { source: { ip: o.login.ip, port: o.login.port ?? 50000 } } : {}),
              ...(o.login.communityId ? { community_id: o.login.communityId } : {}),
            },
          }
        : {}),
      ...(o.serverBanner
        ? {
            detected_by: "client",
            client_banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
            server_banner: o.serverBanner,
          }
        : {}),
      ...(o.changes ? { user_changes: o.changes.map((c, i) => ({ pid: 5000 + i, ...c })) } : {}),
    },
  };
}

export function monitor(
  action: "monitor-started" | "monitor-stopped",
  time: string,
  hostname = "web1",
  reason?: string,
) {
  return {
    "@timestamp": time,
    ecs: { version: "8.17.0" },
    event: {
      kind: "event",
      category: ["process"],
      type: [action === "monitor-started" ? "start" : "end"],
      action,
      outcome: "success",
    },
    host: { hostname },
    ssh_outbound: {
      monitor: {
        version: "0.1.0",
        pid: 777,
        source: "ebpf",
        reason: reason ?? (action === "monitor-started" ? "ebpf (auto)" : "SIGTERM"),
        ports: [22],
        clients: ["ssh"],
        interval_ms: 50,
      },
    },
  };
}

export const newId = (): string => {
  // UUIDv7-looking ids are what the daemon writes; the report does not depend on the version.
  const u = randomUUID();
  return `${u.slice(0, 14)}7${u.slice(15)}`;
};

export const lines = (records: unknown[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join("");

/** An ssh-session record: a run of `ssh host command` that rode the master connection `via`. */
export function muxSession(o: {
  id: string;
  via: string;
  start: string;
  end: string;
  command: string;
  pid: number;
}) {
  return {
    "@timestamp": o.end,
    ecs: { version: "8.17.0" },
    event: {
      kind: "event",
      category: ["session"],
      type: ["end"],
      action: "ssh-session",
      outcome: "success",
      start: o.start,
      end: o.end,
      duration: (Date.parse(o.end) - Date.parse(o.start)) * 1e6,
    },
    process: {
      pid: o.pid,
      name: "ssh",
      executable: "/usr/bin/ssh",
      args: ["ssh", "-S", "/home/alice/.ssh/cm-db1", "db1", o.command],
      args_count: 5,
      user: { id: "1000", name: "alice" },
    },
    user: { id: "1000", name: "alice" },
    host: { hostname: "web1" },
    ssh_outbound: {
      session_id: o.id,
      via_connection_id: o.via,
      control: { path: "/home/alice/.ssh/cm-db1", master_pid: 4243 },
      source: "ebpf",
      attribution: "complete",
      ancestry: [{ pid: 901, name: "bash", args: ["-bash"], user: "alice", start: o.start }],
      target: { client: "ssh", host: "db1", jump: [], command: o.command },
    },
  };
}
