import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ROOT } from "./daemon.ts";

/**
 * A configuration file from deploy/ as shipped, with some strings replaced for a test (paths, ports).
 * Each must be in the file: a shipped config that changes under the test fails it, rather than the
 * test quietly running a config of its own.
 */
export function shippedWith(file: string, replacements: [from: string, to: string][]): string {
  let text = readFileSync(`${ROOT}deploy/${file}`, "utf8");
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `deploy/${file} contains ${from}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/**
 * The shipped logrotate config for a log and pid file of a test's own, with a dateformat that has the
 * time of day, so that more than one rotation a day gets its own file name.
 */
export function logrotateConfig(log: string, pidFile: string): string {
  return shippedWith("ssh-outbound-logger.logrotate", [
    ["/var/log/ssh-outbound-logger/log.log", log],
    ["/run/ssh-outbound-logger/ssh-outbound-logger.pid", pidFile],
    ["\tdateext\n", "\tdateext\n\tdateformat -%Y%m%d-%H%M%S\n"],
  ]);
}

/**
 * Every line of a log named `base` in `dir` and of its rotated files (.gz included), oldest first
 * (dateext names sort by time), with the file it came from. Each file must end with a whole line;
 * `writing`: the writer may be in the middle of a line in `base` (a read racing a write can see part of
 * it), which is then left out, not yet a record. Rotated files must be whole either way.
 */
export function trailLines(
  dir: string,
  base = "log.log",
  opts: { writing?: boolean } = {},
): { file: string; line: string }[] {
  const out: { file: string; line: string }[] = [];
  const rotated = readdirSync(dir)
    .filter((n) => n.startsWith(`${base}-`))
    .sort((a, b) => a.replace(/\.gz$/, "").localeCompare(b.replace(/\.gz$/, "")));
  for (const name of [...rotated, base]) {
    let raw: Buffer;
    try {
      raw = readFileSync(join(dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    const text = (name.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
    const live = opts.writing === true && name === base;
    assert.ok(live || text === "" || text.endsWith("\n"), `${name} ends with a complete line`);
    for (const line of text.split("\n").slice(0, -1)) out.push({ file: name, line });
  }
  return out;
}
