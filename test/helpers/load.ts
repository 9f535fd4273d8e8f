import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { Ev } from "./daemon.ts";
import { waitFor } from "./wait.ts";

/** A plain TCP listener on 127.0.0.1 that holds every accepted socket until its client closes it. */
export async function plainListener(): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const held = new Set<Socket>();
  const server = createServer((s) => {
    held.add(s);
    s.on("error", () => undefined);
    s.on("close", () => held.delete(s));
    s.resume();
    s.on("end", () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface Conn {
  localPort: number;
  openMs: number;
  closeMs: number;
}

/** One connection to `port` held `holdMs`, closed by us (FIN). */
export function oneConnection(port: number, holdMs: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.on("error", reject);
    s.on("connect", () => {
      const c: Conn = { localPort: s.localPort as number, openMs: Date.now(), closeMs: 0 };
      setTimeout(() => {
        s.end();
        s.on("close", () => {
          c.closeMs = Date.now();
          resolve(c);
        });
      }, holdMs);
    });
  });
}

/**
 * `perSecond` connections a second for `durationMs`, each held `holdMs`: bounded in count and time,
 * loopback only. Resolves once every one has closed.
 */
export async function connectionLoad(o: {
  port: number;
  perSecond: number;
  holdMs: number;
  durationMs: number;
}): Promise<Conn[]> {
  const total = Math.round((o.perSecond * o.durationMs) / 1000);
  const every = 1000 / o.perSecond;
  const started: Promise<Conn>[] = [];
  const t0 = Date.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * every;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    started.push(oneConnection(o.port, o.holdMs));
  }
  return Promise.all(started);
}

/** Every line of a file: the records that parse, and the lines that do not (cut or garbled). */
export function readTrail(paths: readonly string[]): { events: Ev[]; bad: string[] } {
  const events: Ev[] = [];
  const bad: string[] = [];
  for (const p of paths) {
    let buf: Buffer;
    try {
      buf = readFileSync(p);
    } catch (error) {
      // Not there yet is an empty trail; any other failure must not pass for one.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    // Line by line from the bytes: a trail can be larger than the longest string V8 makes.
    for (let from = 0; from < buf.length; ) {
      const nl = buf.indexOf(0x0a, from);
      const end = nl < 0 ? buf.length : nl;
      const line = buf.toString("utf8", from, end);
      from = end + 1;
      if (line === "") continue;
      try {
        events.push(JSON.parse(line));
      } catch {
        bad.push(line);
      }
    }
  }
  return { events, bad };
}

export interface TrailCheck {
  /** Connections with no opened or no closed record. */
  missing: Conn[];
  /** Connections with more than one opened or closed record, or records under two ids. */
  duplicated: Conn[];
  /** Connection records of this port that match none of our connections. */
  strangers: Ev[];
}

/**
 * Matches the trail to the connections the test made, by their source port: each must have exactly one
 * connection-opened and one connection-closed, under one id. A port can be used again by a later
 * connection (a burst of thousands): the connections of one port are matched with that port's ids in
 * order, each id needing exactly opened then closed.
 */
export function checkTrail(events: readonly Ev[], port: number, conns: readonly Conn[]): TrailCheck {
  const byPort = new Map<number, Map<string, string[]>>();
  const strangers: Ev[] = [];
  const ours = new Set(conns.map((c) => c.localPort));
  for (const e of events) {
    if (e.destination?.port !== port) continue;
    const lp = e.source?.port;
    if (!ours.has(lp)) {
      strangers.push(e);
      continue;
    }
    const ids = byPort.get(lp) ?? new Map<string, string[]>();
    const id = e.ssh_outbound.connection_id as string;
    ids.set(id, [...(ids.get(id) ?? []), e.event.action]);
    byPort.set(lp, ids);
  }
  const missing: Conn[] = [];
  const duplicated: Conn[] = [];
  const connsByPort = new Map<number, Conn[]>();
  for (const c of conns) connsByPort.set(c.localPort, [...(connsByPort.get(c.localPort) ?? []), c]);
  for (const [lp, cs] of connsByPort) {
    const ids = [...(byPort.get(lp)?.values() ?? [])];
    const whole = ids.filter(
      (a) => a.length === 2 && a[0] === "connection-opened" && a[1] === "connection-closed",
    );
    const doubled = ids.filter(
      (a) =>
        a.filter((x) => x === "connection-opened").length > 1 ||
        a.filter((x) => x === "connection-closed").length > 1,
    );
    // Each connection needs a whole id; an id that is not whole means one of them is missing a record.
    const short = cs.length - whole.length;
    for (let i = 0; i < short; i++) missing.push(cs[cs.length - 1 - i] as Conn);
    // More whole ids than connections we know of on a port is not a duplicate: a connect that the
    // server reset before our 'connect' event was never counted by the test, but the kernel made it.
    if (doubled.length > 0) duplicated.push(cs[0] as Conn);
  }
  return { missing, duplicated, strangers };
}

/** The monitor-stopped record's stats (the run's totals). */
export function stoppedStats(events: readonly Ev[]): Record<string, number> {
  const stop = events.filter((e) => e.event?.action === "monitor-stopped").at(-1);
  return stop?.ssh_outbound.monitor.stats ?? {};
}

/** Until the log file holds `count` monitor-started records: the daemon writing it is capturing. */
export function waitStarted(log: string, count = 1, timeoutMs = 30_000): Promise<unknown> {
  const started = () => readTrail([log]).events.filter((e) => e.event?.action === "monitor-started").length;
  return waitFor(`monitor-started #${count} in ${log}`, () => started() >= count, timeoutMs);
}
