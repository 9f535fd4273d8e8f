import { readFileSync } from "node:fs";

/**
 * Where the cgroup v2 hierarchy is mounted (its root as this process sees it), from
 * /proc/self/mountinfo: the protocol programs attach there and see every socket in it or below it.
 * `/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified` on a hybrid one; undefined when none is
 * mounted (cgroup v1 only). Inside a cgroup namespace the root is the namespace's: the programs then
 * see only that part of the host.
 */
export function cgroup2Root(mountinfo = "/proc/self/mountinfo"): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, "utf8");
  } catch {
    return undefined;
  }
  return cgroup2RootIn(text);
}

/** The first cgroup2 mount of a mountinfo text whose root is the hierarchy's (or namespace's) root. */
export function cgroup2RootIn(text: string): string | undefined {
  for (const line of text.split("\n")) {
    // id parent major:minor root mount-point options [optional fields] - fstype source super-options
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(" ")[0];
    if (fstype !== "cgroup2") continue;
    const fields = line.slice(0, sep).split(" ");
    if (fields[3] !== "/" || fields[4] === undefined) continue;
    return unescapeMountPath(fields[4]);
  }
  return undefined;
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}
