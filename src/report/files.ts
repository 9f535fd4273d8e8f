import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export const DEFAULT_LOG = "/var/log/ssh-outbound-logger/log.log";
const DEFAULTS_FILE = "/etc/default/ssh-outbound-logger";

/**
 * The log file the daemon is configured to write: SSH_OUTBOUND_OUTPUT from the environment, else
 * from the service's /etc/default file, else the unit's default.
 */
export function configuredLog(env: NodeJS.ProcessEnv = process.env, defaultsFile = DEFAULTS_FILE): string {
  if (env.SSH_OUTBOUND_OUTPUT) return env.SSH_OUTBOUND_OUTPUT;
  try {
    const m = /^\s*SSH_OUTBOUND_OUTPUT=["']?([^"'\n]+)["']?\s*$/m.exec(readFileSync(defaultsFile, "utf8"));
    if (m?.[1]) return m[1];
  } catch {
    // no defaults file: not installed as a service
  }
  return DEFAULT_LOG;
}

/**
 * A log file and its rotated siblings, oldest first, the live file last. Understands logrotate's
 * dated names (`log.log-20261125`, `-20261125-1732`…, sorted by date) and numbered ones (`log.log.1`,
 * higher is older), compressed (`.gz`) or not.
 */
export function logFamily(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [path];
  }
  const dated: string[] = [];
  const numbered: { n: number; name: string }[] = [];
  for (const name of names) {
    if (!name.startsWith(base) || name === base) continue;
    const rest = name.slice(base.length).replace(/\.gz$/, "");
    if (/^-\d{8}[-\d]*$/.test(rest)) dated.push(name);
    else if (/^\.\d+$/.test(rest)) numbered.push({ n: Number(rest.slice(1)), name });
  }
  dated.sort((a, b) => a.replace(/\.gz$/, "").localeCompare(b.replace(/\.gz$/, "")));
  numbered.sort((a, b) => b.n - a.n);
  const rotated = [...numbered.map((x) => x.name), ...dated].map((n) => join(dir, n));
  return names.includes(base) ? [...rotated, path] : rotated;
}

/**
 * Files named on the command line, put in the order logFamily() gives: rotated siblings of one log
 * oldest first and the live file last (a shell glob `log.log*` lists the live file first).
 */
export function orderLogFiles(paths: readonly string[]): string[] {
  const rank = (p: string): [string, number, string] => {
    const name = basename(p).replace(/\.gz$/, "");
    const dated = /^(.*)-(\d{8}[-\d]*)$/.exec(name);
    if (dated) return [join(dirname(p), dated[1] as string), 1, dated[2] as string];
    const numbered = /^(.*)\.(\d+)$/.exec(name);
    if (numbered)
      return [
        join(dirname(p), numbered[1] as string),
        0,
        String(1e9 - Number(numbered[2])).padStart(10, "0"),
      ];
    return [join(dirname(p), name), 2, ""];
  };
  return paths
    .map((p, i) => ({ p, i, r: rank(p) }))
    .sort((a, b) => {
      if (a.r[0] !== b.r[0]) return a.i - b.i; // different logs keep the given order
      return a.r[1] - b.r[1] || a.r[2].localeCompare(b.r[2]);
    })
    .map((x) => x.p);
}

/**
 * The files named, a directory standing for every file under it (a collector's tree: one file per
 * host and day), each directory's files in name order. A path that cannot be read is kept as it is,
 * for the reader to name it.
 */
export function expandDirectories(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      out.push(p);
      return;
    }
    if (!isDir) {
      out.push(p);
      return;
    }
    for (const name of readdirSync(p).sort()) walk(join(p, name));
  };
  for (const p of paths) walk(p);
  return out;
}
