import {
  bareHost,
  DBCLIENT,
  getopt,
  type OnOption,
  parseRemotePath,
  parseUri,
  SCP,
  SFTP,
  splitUserHost,
  sshSpec,
} from "./client-words.ts";
import { type SshTarget, Target } from "./ssh-target.ts";

export type { SshTarget } from "./ssh-target.ts";

/**
 * The target as the user typed it, read from an SSH client's argv the way the client itself reads it.
 * OpenSSH (ssh.c) parses options with getopt, takes the first non-option as the destination, then parses
 * options again from the word after it (so `ssh host -p 2222` works) unless `--` ended them; the rest is
 * the remote command. For -p, -l, -J and -o Port/User/ProxyJump the *first* value wins, as in ssh.c and
 * readconf.c. An option we do not know never stops the parse: it is skipped as a flag.
 */

function parseSsh(args: readonly string[], t = new Target("ssh")): SshTarget {
  const on: OnOption = (l, v) => {
    if (l === "p") t.port(v);
    else if (l === "l") t.user(v, true);
    else if (l === "J") t.jumpFlag(v);
    else if (l === "o") t.option(v);
    else if (l === "M") t.masterFlag();
    else if (l === "S") t.controlPathFlag(v);
    else if (l === "L") t.forward("local", v);
    else if (l === "R") t.forward("remote", v);
    else if (l === "D") t.forward("dynamic", v);
    else if (l === "W") t.t.stdioForward ??= v;
    else if (l === "i") t.identity(v, "flag");
    else if (l === "A" || l === "a") t.agentByFlag(l === "A");
    else if (l === "X" || l === "Y" || l === "x") t.x11ByFlag(l !== "x");
    else if (l === "N") t.t.noShell = true;
    else if (l === "O") t.t.controlCommand ??= v;
  };
  const spec = sshSpec();
  let { next, terminated } = getopt(args, 1, spec, on);
  if (next < args.length) {
    const dest = args[next] as string;
    const uri = parseUri(dest, "ssh");
    const uh = uri ?? splitUserHost(dest);
    t.user(uh.user);
    t.t.host = uh.host;
    if (uri) t.port(uri.port);
    next++;
    if (next < args.length && !terminated) ({ next, terminated } = getopt(args, next, spec, on));
  }
  if (next < args.length && t.t.command === undefined) t.t.command = args.slice(next).join(" ");
  return t.done();
}

/**
 * scp and sftp run ssh with the user's -o, -i and -A first, then their own options, then `-p`/`-oPort`
 * with the port: the one from an scp:// or sftp:// URI, else the last -P. So a `-o Port=` given by the
 * user wins over both (ssh keeps the first), and the URI's port over -P.
 */
function parseCopy(args: readonly string[], client: "scp" | "sftp"): SshTarget {
  const t = new Target(client);
  let lastP: string | undefined;
  const on: OnOption = (l, v) => {
    if (l === "P") lastP = v;
    else if (l === "J") t.jumpFlag(v);
    else if (l === "o") t.option(v);
    else if (l === "i") t.identity(v, "flag");
    else if (l === "A") t.agentByFlag(true);
  };
  const { next } = getopt(args, 1, client === "scp" ? SCP : SFTP, on);
  let uriPort: string | undefined;
  for (const word of args.slice(next)) {
    const uri = parseUri(word, client);
    if (uri) {
      t.user(uri.user);
      t.t.host = uri.host;
      uriPort = uri.port;
      break;
    }
    const remote = parseRemotePath(word) ?? (client === "sftp" ? bareHost(word) : undefined);
    if (remote) {
      t.user(remote.user);
      t.t.host = remote.host;
      break;
    }
  }
  t.port(uriPort ?? lastP);
  return t.done();
}

/** sshfs [user@]host:[dir] mountpoint [-p PORT] [-o port=N,ssh_command=…,…] — options may come anywhere. */
function parseSshfs(args: readonly string[]): SshTarget {
  const t = new Target("sshfs");
  for (let i = 1; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "-p" || a === "-o") {
      const v = args[++i];
      if (a === "-p") t.port(v);
      else for (const kv of (v ?? "").split(",")) sshfsOption(t, kv);
    } else if (a.startsWith("-p")) t.port(a.slice(2));
    else if (a.startsWith("-o")) for (const kv of a.slice(2).split(",")) sshfsOption(t, kv);
    else if (!a.startsWith("-") && t.t.host === undefined) {
      const remote = parseRemotePath(a);
      if (remote) {
        t.user(remote.user);
        t.t.host = remote.host;
      }
    }
  }
  return t.t;
}

function sshfsOption(t: Target, kv: string): void {
  const [k, v] = kv.split("=", 2);
  if (k === "port") t.port(v);
  else if (k !== undefined && /^[A-Z]/.test(k)) t.option(kv); // ssh options pass through, e.g. -o ProxyJump=x
}

/** autossh [-V] [-M port[:echo_port]] [-f] [ssh options…]: its own options removed, the rest is ssh's. */
function parseAutossh(args: readonly string[]): SshTarget {
  const rest: string[] = ["ssh"];
  for (let i = 1; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "-M") i++;
    else if (a.startsWith("-M") || a === "-f" || a === "-V") continue;
    else rest.push(a);
  }
  return parseSsh(rest, new Target("autossh"));
}

/** dbclient [opts] [user@]host[/port][,[user@]host[/port]…] [command]: the last hop is the target. */
function parseDbclient(args: readonly string[]): SshTarget {
  const t = new Target("dbclient");
  const on: OnOption = (l, v) => {
    if (l === "p") t.port(v);
    else if (l === "l") t.user(v);
  };
  const { next } = getopt(args, 1, DBCLIENT, on);
  if (next < args.length) {
    const hops = (args[next] as string).split(",");
    const last = hops.pop() as string;
    t.t.jump = hops;
    const [userHost, port] = last.split("/", 2) as [string, string | undefined];
    const uh = splitUserHost(userHost);
    t.user(uh.user);
    t.t.host = uh.host;
    // Our reading: a -p given before the host wins, as it does for OpenSSH; otherwise the hop's /port.
    t.port(port);
    if (next + 1 < args.length) t.t.command = args.slice(next + 1).join(" ");
  }
  return t.t;
}

const PARSERS: Record<string, (args: readonly string[]) => SshTarget> = {
  ssh: (a) => parseSsh(a),
  scp: (a) => parseCopy(a, "scp"),
  sftp: (a) => parseCopy(a, "sftp"),
  sshfs: parseSshfs,
  autossh: parseAutossh,
  dbclient: parseDbclient,
};

/**
 * The typed target of an SSH client's argv, or undefined when the program is not one we can read
 * (a raw connect from python, nc, …). The program is recognised by argv[0]'s base name, then by the
 * task name (a renamed binary keeps its comm). Never throws.
 */
export function parseClientArgv(args: readonly string[], comm?: string): SshTarget | undefined {
  if (args.length === 0) return undefined;
  const base = (args[0] as string).split("/").pop() ?? "";
  const parse = PARSERS[base] ?? (comm === undefined ? undefined : PARSERS[comm]);
  if (!parse) return undefined;
  try {
    return parse(args);
  } catch {
    return undefined; // a parser bug must not cost the event; the raw args are in the record anyway
  }
}
