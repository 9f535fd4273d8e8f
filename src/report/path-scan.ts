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
const ACTION = 'action":"connection-';
const ACTIONS: Record<string, ConnectionAction> = {
  opened: "opened",
  closed: "closed",
  failed: "failed",
  unresolved: "unresolved",
};

/**
 * `s` as a string of its own. A slice of a line is a view that keeps the whole line (and the chunk of
 * the file it was cut from) alive: kept for every connection until the end, that would be the whole
 * input in memory. Slicing a concatenation copies just the slice's characters.
 */
const own = (s: string): string => ` ${s}`.slice(1);

/** Where the last string stringAt() read ends (its closing quote). */
let valueEnd = -1;
/** Whether the strings read are copied out of the line (see scanConnection). */
let copying = true;

/**
 * A JSON string value starting at `at` (just after its opening quote); undefined when the line ends
 * first. Its closing quote is left in valueEnd. Escapes are decoded by JSON.parse (rare: names and
 * hosts seldom hold them).
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
  valueEnd = end;
  if (end < 0) return undefined;
  const raw = line.slice(at, end);
  if (!escaped) return copying ? own(raw) : raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

/** The string value of `key` (written `"name":"`) when it begins right at `at`, else undefined. */
function stringIfAt(line: string, key: string, at: number): string | undefined {
  return at >= 0 && line.startsWith(key, at) ? stringAt(line, at + key.length) : undefined;
}

/**
 * Where `key` begins in [from, to), or -1. Searched from `from` to the line's end, not in a slice:
 * the keys looked for this way are nearly always there, where a search finds them at once, and a
 * slice for each search cost more than the rare search that runs on to the end (still linear).
 */
function find(line: string, key: string, from: number, to: number): number {
  if (from < 0) return -1;
  const at = line.indexOf(key, from);
  return at >= 0 && at < to ? at : -1;
}

/** The string value of `key` (written `"name":"`) in [from, to), or undefined. */
function str(line: string, key: string, from: number, to: number): string | undefined {
  const at = find(line, key, from, to);
  return at < 0 ? undefined : stringAt(line, at + key.length);
}

/** The integer value of `key` (written `"name":`) in [from, to), or undefined. */
function int(line: string, key: string, from: number, to: number): number | undefined {
  const at = find(line, key, from, to);
  if (at < 0) return undefined;
  const m = /^\d{1,15}/.exec(line.slice(at + key.length, at + key.length + 16));
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
function endOf(keys: Map<string, number>, from: number, end: number): number {
  for (const at of keys.values()) if (at > from && at < end) end = at;
  return end;
}

/**
 * The connection a line records, "other" for a record that is not a connection's, undefined for a
 * line to be parsed whole (not laid out as the daemon writes it). With `copy` false its strings are
 * slices of the line, for a caller that copies them itself before keeping them (a worker sending them).
 *
 * Cost: a collector's files hold millions of lines, so each is searched once from one object to the
 * next, and a field that follows another is read where it begins (a look, not a search). Patterns
 * begin with a brace or a letter where they can: V8 looks for a pattern's first character first, and
 * a quote stops it at every key and value of the line. A key that may be absent is looked for only
 * within its object.
 */
export function scanConnection(line: string, copy = true): PathConn | "other" | undefined {
  if (!line.startsWith(TIME)) return undefined;
  copying = copy;
  const time = stringAt(line, TIME.length);
  const ev = line.indexOf('"event":{', valueEnd);
  if (time === undefined || ev < 0) return undefined;
  // The event object holds no object: its first } ends it.
  const evEnd = line.indexOf("}", ev);
  const a = find(line, 'action":"', ev, evEnd);
  if (a < 0) return undefined;
  if (!line.startsWith(ACTION, a)) return "other";
  const action = ACTIONS[stringAt(line, a + ACTION.length) ?? ""];
  if (action === undefined) return undefined;
  const startAt = find(line, 'start":"', valueEnd, evEnd);
  const start = startAt < 0 ? time : stringAt(line, startAt + 'start":"'.length);
  const end = startAt < 0 ? str(line, 'end":"', ev, evEnd) : stringIfAt(line, ',"end":"', valueEnd + 1);

  // process: its pid, then its name.
  let process: string | undefined;
  let at = evEnd;
  if (line.startsWith(',"process":{"pid":', evEnd + 1)) {
    process = str(line, ',"name":"', evEnd, evEnd + 48);
    if (process !== undefined) at = valueEnd;
  }
  // The record's user: the top-level object follows the process object (`},"user":{`) or the event
  // itself; every user object inside process follows a string or a number, never a }.
  let user: string | undefined;
  const userAt = line.indexOf('},"user":{"id":"', at);
  if (userAt >= 0) {
    stringAt(line, userAt + '},"user":{"id":"'.length);
    user = stringIfAt(line, ',"name":"', valueEnd + 1);
    at = userAt;
  }
  // destination, network, host: one after the other (a container or source object may come first).
  let destIp: string | undefined;
  let destPort: number | undefined;
  const dst = line.indexOf('},"destination":{', at);
  if (dst >= 0) {
    const dstEnd = line.indexOf("}", dst + 3);
    destIp = str(line, '"ip":"', dst, dstEnd);
    destPort = int(line, '"port":', dst, dstEnd);
    at = dstEnd;
  }
  let communityId: string | undefined;
  const net = line.indexOf('},"network":{', at);
  if (net >= 0) {
    const netEnd = line.indexOf("}", net + 3);
    communityId = str(line, 'community_id":"', net, netEnd);
    at = netEnd;
  }
  const hostAt = line.indexOf('},"host":{"hostname":"', at);
  const host = hostAt < 0 ? undefined : stringAt(line, hostAt + '},"host":{"hostname":"'.length);
  if (host === undefined) return undefined;
  const hostId = stringIfAt(line, ',"id":"', valueEnd + 1);
  const hostEnd = line.indexOf("}", valueEnd);
  // connection_id is ssh_outbound's first key, right after host.
  const id = stringIfAt(line, ',"ssh_outbound":{"connection_id":"', hostEnd + 1);
  if (id === undefined || start === undefined) return undefined;

  const c: PathConn = { id, action, start, host };
  if (end !== undefined) c.end = end;
  else if (action !== "opened") c.end = time;
  if (hostId !== undefined) c.hostId = hostId;
  if (user !== undefined) c.user = user;
  if (process !== undefined) c.process = process;
  if (destIp !== undefined) c.destIp = destIp;
  if (destPort !== undefined) c.destPort = destPort;
  if (communityId !== undefined) c.communityId = communityId;

  // The tail: the target follows the ancestry (an array) when there is one, then login and the rest.
  let target = line.indexOf('],"target":{', valueEnd);
  if (target < 0) target = line.indexOf(',"target":{', valueEnd);
  const keys = tailKeys(line, target >= 0 ? target : valueEnd);
  if (target >= 0) {
    const tEnd = endOf(keys, target, line.length);
    const th = str(line, '"host":"', target, tEnd);
    const tu = str(line, '"user":"', target, tEnd);
    if (th !== undefined) c.targetHost = th;
    if (tu !== undefined) c.targetUser = tu;
  }
  const login = keys.get("login");
  if (login !== undefined) {
    const lEnd = endOf(keys, login, line.length);
    const userAt2 = find(line, '{"user":{', login, lEnd);
    const src = find(line, '"source":{', login, lEnd);
    const srcEnd = src < 0 ? -1 : line.indexOf("}", src);
    c.login = {
      user: userAt2 >= 0 ? str(line, '"name":"', userAt2, line.indexOf("}", userAt2 + 2)) : undefined,
      entry: str(line, '"entry":"', login, lEnd),
      communityId: str(line, 'community_id":"', login, lEnd),
      ip: src >= 0 ? str(line, '"ip":"', src, srcEnd) : undefined,
      port: src >= 0 ? int(line, '"port":', src, srcEnd) : undefined,
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
