/**
 * The fields `report --paths` needs from a connection record, found in the line without parsing it
 * whole (the process, its ancestry and their command lines are most of a record, and a collector's
 * files hold millions). This relies only on JSON and on the order the daemon writes its keys: a quote
 * inside a string is escaped, so `"key":` occurs in a line only as a key, never inside a value, and a
 * search for a key is bounded to the object it belongs to by the key that follows that object. A line
 * not laid out as expected reads as undefined and is parsed whole instead.
 */
import type { PathConn } from "./paths.ts";
import type { ConnectionAction } from "./records.ts";

const TIME = '{"@timestamp":"';
const ACTION = '"action":"connection-';
const ACTIONS: Record<string, ConnectionAction> = {
  opened: "opened",
  closed: "closed",
  failed: "failed",
  unresolved: "unresolved",
};
/** event.action comes early in the daemon's lines: looked for only there. */
const ACTION_WITHIN = 400;

/**
 * `s` as a string of its own. A slice of a line is a view that keeps the whole line (and the chunk of
 * the file it was cut from) alive: kept for every connection until the end, that would be the whole
 * input in memory. Slicing a concatenation copies just the slice's characters.
 */
const own = (s: string): string => ` ${s}`.slice(1);

/**
 * A JSON string value starting at `at` (just after its opening quote), with its end; undefined when
 * the line ends first. Escapes are decoded by JSON.parse (rare: names and hosts seldom hold them).
 */
function stringAt(line: string, at: number): string | undefined {
  let end = line.indexOf('"', at);
  let escaped = false;
  while (end >= 0 && line.charCodeAt(end - 1) === 92 /* \ */) {
    // A quote after an odd number of backslashes is escaped; after an even number it ends the string.
    let n = 0;
    for (let i = end - 1; i >= at && line.charCodeAt(i) === 92; i--) n++;
    if (n % 2 === 0) break;
    escaped = true;
    end = line.indexOf('"', end + 1);
  }
  if (end < 0) return undefined;
  const raw = line.slice(at, end);
  if (!escaped && raw.indexOf("\\") < 0) return own(raw);
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

/** The string value of `"key":"…"` in [from, to), or undefined. */
function str(line: string, key: string, from: number, to: number): string | undefined {
  if (from < 0) return undefined;
  const k = `"${key}":"`;
  const at = line.indexOf(k, from);
  if (at < 0 || at >= to) return undefined;
  return stringAt(line, at + k.length);
}

/** The integer value of `"key":123` in [from, to), or undefined. */
function int(line: string, key: string, from: number, to: number): number | undefined {
  if (from < 0) return undefined;
  const k = `"${key}":`;
  const at = line.indexOf(k, from);
  if (at < 0 || at >= to) return undefined;
  const m = /^\d+/.exec(line.slice(at + k.length, at + k.length + 12));
  return m ? Number(m[0]) : undefined;
}

/**
 * The keys of ssh_outbound from its target on, in the order the daemon writes them: found in one pass
 * over the line's tail, each object then ends where the next key begins.
 */
const TAIL_KEYS =
  /,"(login|user_changes|unit|control|route|proxy_for|forwarded_for|raw_bytes)":|},"agent":\{/g;

/** Where each of TAIL_KEYS begins after `from` (the end of ssh_outbound as `end`). */
function tailKeys(line: string, from: number): Map<string, number> {
  const at = new Map<string, number>();
  TAIL_KEYS.lastIndex = from;
  for (let m = TAIL_KEYS.exec(line); m; m = TAIL_KEYS.exec(line)) at.set(m[1] ?? "end", m.index);
  return at;
}

/** The end of the object whose key is `key`: where the next key found after it begins. */
function endOf(keys: Map<string, number>, from: number, length: number): number {
  let end = length;
  for (const at of keys.values()) if (at > from && at < end) end = at;
  return end;
}

/**
 * The connection a line records, "other" for a record that is not a connection's, undefined for a
 * line to be parsed whole (not laid out as the daemon writes it).
 */
export function scanConnection(line: string): PathConn | "other" | undefined {
  if (!line.startsWith(TIME)) return undefined;
  const a = line.indexOf(ACTION);
  if (a < 0 || a > ACTION_WITHIN) {
    // Another record of ours (monitor, session, suppressed): its action is early too.
    return line.lastIndexOf('"action":"', ACTION_WITHIN) >= 0 ? "other" : undefined;
  }
  const action = ACTIONS[stringAt(line, a + ACTION.length) ?? ""];
  if (action === undefined) return undefined;
  const time = stringAt(line, TIME.length);
  const ev = line.indexOf('"event":{');
  const hostAt = line.indexOf('"host":{"hostname":"', ev);
  // connection_id is ssh_outbound's first key.
  const id = str(line, "connection_id", hostAt, hostAt + 512);
  if (time === undefined || ev < 0 || id === undefined || hostAt < 0) return undefined;
  // The event object holds no object: its first } ends it.
  const evEnd = line.indexOf("}", ev);
  const start = str(line, "start", ev, evEnd) ?? time;
  const host = stringAt(line, hostAt + '"host":{"hostname":"'.length);
  if (host === undefined) return undefined;
  const c: PathConn = { id, action, start, host };
  const end = str(line, "end", ev, evEnd);
  if (end !== undefined) c.end = end;
  else if (action !== "opened") c.end = time;
  const hostEnd = line.indexOf("}", hostAt);
  const hostId = str(line, "id", hostAt, hostEnd);
  if (hostId !== undefined) c.hostId = hostId;
  // The record's user: the top-level object, which follows the process object (`},"user":{`) or the
  // event itself; every user object inside process follows a string or a number, never a }.
  const procAt = line.indexOf('"process":{"pid":', evEnd);
  const userAt = line.indexOf('},"user":{"id":"', procAt >= 0 ? procAt : evEnd);
  if (userAt >= 0) {
    const user = str(line, "name", userAt, line.indexOf("}", userAt + 3));
    if (user !== undefined) c.user = user;
  }
  if (procAt >= 0 && procAt < evEnd + 4) {
    const name = str(line, "name", procAt, procAt + 64);
    if (name !== undefined) c.process = name;
  }
  const dst = line.indexOf('"destination":{', userAt >= 0 ? userAt : evEnd);
  if (dst >= 0) {
    const dstEnd = line.indexOf("}", dst);
    const ip = str(line, "ip", dst, dstEnd);
    const port = int(line, "port", dst, dstEnd);
    if (ip !== undefined) c.destIp = ip;
    if (port !== undefined) c.destPort = port;
  }
  const net = line.indexOf('"network":{', dst >= 0 ? dst : evEnd);
  if (net >= 0) {
    const flow = str(line, "community_id", net, line.indexOf("}", net));
    if (flow !== undefined) c.communityId = flow;
  }
  const so = line.indexOf('"ssh_outbound":{', hostAt);
  const target = line.indexOf('"target":{', so);
  const keys = tailKeys(line, target >= 0 ? target : so);
  if (target >= 0) {
    const tEnd = endOf(keys, target, line.length);
    const th = str(line, "host", target, tEnd);
    const tu = str(line, "user", target, tEnd);
    if (th !== undefined) c.targetHost = th;
    if (tu !== undefined) c.targetUser = tu;
  }
  const login = keys.get("login");
  if (login !== undefined) {
    const lEnd = endOf(keys, login, line.length);
    const userAt2 = line.indexOf('"user":{', login);
    const src = line.indexOf('"source":{', login);
    c.login = {
      user:
        userAt2 >= 0 && userAt2 < lEnd ? str(line, "name", userAt2, line.indexOf("}", userAt2)) : undefined,
      entry: str(line, "entry", login, lEnd),
      communityId: str(line, "community_id", login, lEnd),
      ip: src >= 0 && src < lEnd ? str(line, "ip", src, line.indexOf("}", src)) : undefined,
      port: src >= 0 && src < lEnd ? int(line, "port", src, line.indexOf("}", src)) : undefined,
    };
  }
  const changes = keys.get("user_changes");
  if (changes !== undefined) {
    const last = line.lastIndexOf('"via":"', endOf(keys, changes, line.length));
    if (last > changes) {
      const via = stringAt(line, last + '"via":"'.length);
      if (via !== undefined) c.via = via;
    }
  }
  return c;
}
