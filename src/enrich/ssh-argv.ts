import { a2port, splitOptionLine, splitWords } from "./openssh-words.ts";

/**
 * The target as the user typed it, read from an SSH client's argv the way the client itself reads it.
 * OpenSSH (ssh.c) parses options with getopt, takes the first non-option as the destination, then parses
 * options again from the word after it (so `ssh host -p 2222` works) unless `--` ended them; the rest is
 * the remote command. For -p, -l, -J and -o Port/User/ProxyJump the *first* value wins, as in ssh.c and
 * readconf.c. An option we do not know never stops the parse: it is skipped as a flag.
 */

export interface SshTarget {
  /** The client program as recognised (ssh, scp, sftp, sshfs, autossh, dbclient). */
  client: string;
  user?: string;
  /** The host as typed: an alias from ~/.ssh/config stays an alias. */
  host?: string;
  port?: number;
  /** Jump hosts in order, as typed (-J, ProxyJump, or dropbear's multi-hop list). */
  jump: string[];
  command?: string;
  /** ControlMaster as typed (-M is "yes", -MM "ask"; -o ControlMaster=…), and ControlPath (-S, -o). */
  controlMaster?: string;
  controlPath?: string;
  /** Port forwards as typed (-L/-R/-D, LocalForward/RemoteForward/DynamicForward), in order. */
  forwards?: { local: string[]; remote: string[]; dynamic: string[] };
  /** -W host:port: the session is a pipe to that address (ProxyJump's helper, or by hand). */
  stdioForward?: string;
  /** ForwardAgent (-A yes, -a no, -o ForwardAgent=…), when given. */
  agent?: boolean;
  /** ForwardX11 (-X/-Y yes, -x no, -o ForwardX11=…), when given. */
  x11?: boolean;
  /** Identity files (-i, -o IdentityFile=…), in order. */
  identities?: string[];
  /** No shell or command (-N, -W, SessionType none). */
  noShell?: boolean;
  /** -O: a command to a running control master (check, forward, cancel, exit, stop, proxy). */
  controlCommand?: string;
}

interface GetoptSpec {
  /** Option letters that take a value. */
  withValue: string;
}

const SSH: GetoptSpec = { withValue: "BbcDEeFIiJLlmOoPpQRSWw" };
const SCP: GetoptSpec = { withValue: "cDFiJlPSoX" };
const SFTP: GetoptSpec = { withValue: "BbcDFiJloPRSsX" };
const DBCLIENT: GetoptSpec = { withValue: "pliLRJBbcmKIosWe" };

type OnOption = (letter: string, value: string | undefined) => void;

/**
 * BSD getopt over args[from..]: stops at the first non-option word or after `--`.
 * @returns the index of the first word not consumed and whether `--` was seen.
 */
function getopt(args: readonly string[], from: number, spec: GetoptSpec, on: OnOption) {
  let i = from;
  while (i < args.length) {
    const a = args[i] as string;
    if (a === "--") return { next: i + 1, terminated: true };
    if (!a.startsWith("-") || a === "-") break;
    for (let j = 1; j < a.length; j++) {
      const letter = a[j] as string;
      if (spec.withValue.includes(letter)) {
        const inline = a.slice(j + 1);
        const value = inline !== "" ? inline : args[++i];
        on(letter, value);
        break;
      }
      on(letter, undefined);
    }
    i++;
  }
  return { next: i, terminated: false };
}

const toPort = a2port;

/** yes/true → true, no/false → false (readconf.c's flag values), else undefined. */
function yes(v: string): boolean | undefined {
  const l = v.toLowerCase();
  return l === "yes" || l === "true" ? true : l === "no" || l === "false" ? false : undefined;
}

/** Collects first-wins values the way ssh.c and readconf.c do. */
class Target {
  readonly t: SshTarget;
  constructor(client: string) {
    this.t = { client, jump: [] };
  }
  user(v: string | undefined): void {
    if (v !== undefined && v !== "" && this.t.user === undefined) this.t.user = v;
  }
  port(v: string | undefined): void {
    const p = toPort(v);
    if (p !== undefined && this.t.port === undefined) this.t.port = p;
  }
  /** ProxyJump: the first given wins; a ProxyCommand given before it means no jump (readconf.c). */
  jumps(v: string | undefined, sep = ","): void {
    if (v === undefined || this.jumpSet || this.proxyCommandSet) return;
    this.jumpSet = true;
    if (v.toLowerCase() === "none") return;
    this.t.jump = v
      .split(sep)
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  private jumpSet = false;
  private proxyCommandSet = false;
  /**
   * `-o Key=Value`, `-o "Key Value"`, `-oKey=Value`: the key case-insensitive, the value's words split
   * as OpenSSH splits them (quotes, backslashes, `#` comments; see openssh-words.ts).
   */
  option(v: string | undefined): void {
    const line = v === undefined ? undefined : splitOptionLine(v);
    if (!line) return;
    const { key, rest } = line;
    const words = splitWords(rest);
    if (!words || words.length === 0) return;
    const value = words[0] as string;
    if (key === "port") this.port(value);
    else if (key === "user") this.user(value);
    else if (key === "proxyjump") this.jumps(value);
    else if (key === "proxycommand") this.proxyCommandSet ||= !this.jumpSet;
    else if (key === "remotecommand" && value.toLowerCase() !== "none" && this.t.command === undefined) {
      this.t.command = rest;
    } else if (key === "controlmaster" && this.t.controlMaster === undefined) this.t.controlMaster = value;
    else if (key === "controlpath" && this.t.controlPath === undefined) this.t.controlPath = value;
    else if (key === "localforward") this.forward("local", words.join(" "));
    else if (key === "remoteforward") this.forward("remote", words.join(" "));
    else if (key === "dynamicforward") this.forward("dynamic", value);
    else if (key === "clearallforwardings") this.forwardsCleared ||= yes(value) === true;
    else if (key === "identityfile") this.identity(value, "option");
    else if (key === "forwardagent") this.agentOption ??= yes(value) ?? true;
    else if (key === "forwardx11") this.x11Option ??= yes(value);
    else if (key === "sessiontype" && value.toLowerCase() === "none") this.t.noShell = true;
  }
  private forwardsCleared = false;
  private agentFlag: boolean | undefined;
  private agentOption: boolean | undefined;
  private x11Flag: boolean | undefined;
  private x11Option: boolean | undefined;
  /** A forward, once: ssh drops one equal to a forward already asked for (readconf.c). */
  forward(kind: "local" | "remote" | "dynamic", v: string | undefined): void {
    if (v === undefined || v === "") return;
    this.t.forwards ??= { local: [], remote: [], dynamic: [] };
    // Looked up in a set, not compared with each earlier one: an argv of thousands of forwards must
    // cost linear time (comparing each with all was 16 s for 16,000, on the event loop).
    const key = v.indexOf(" ") < 0 && v.indexOf("\t") < 0 ? v : v.replace(/[ \t]+/, ":");
    const seen = this.forwardsSeen[kind];
    if (seen.has(key)) return;
    seen.add(key);
    this.t.forwards[kind].push(v);
  }
  private readonly forwardsSeen = {
    local: new Set<string>(),
    remote: new Set<string>(),
    dynamic: new Set<string>(),
  };
  /**
   * Each file once per way of giving it, in order: add_identity_file drops a file given again the same
   * way, but `-i f` and `-o IdentityFile=f` are kept both (the one is "user provided", the other not).
   */
  identity(v: string | undefined, how: "flag" | "option"): void {
    if (v === undefined || v === "") return;
    this.t.identities ??= [];
    const seen = how === "flag" ? this.idFlags : this.idOptions;
    if (seen.has(v)) return;
    seen.add(v);
    this.t.identities.push(v);
  }
  private readonly idFlags = new Set<string>();
  private readonly idOptions = new Set<string>();
  /** -A/-a and -X/-x/-Y set the option outright (ssh.c); -o only when not set yet (readconf.c). */
  agentByFlag(on: boolean): void {
    this.agentFlag = on;
  }
  x11ByFlag(on: boolean): void {
    this.x11Flag = on;
  }
  /** The collected target, with the rules applied that need every option seen. */
  done(): SshTarget {
    const agent = this.agentFlag ?? this.agentOption;
    if (agent !== undefined) this.t.agent = agent;
    const x11 = this.x11Flag ?? this.x11Option;
    if (x11 !== undefined) this.t.x11 = x11;
    // -W and ClearAllForwardings=yes drop every port forward (ssh.c).
    if (this.t.stdioForward !== undefined || this.forwardsCleared) delete this.t.forwards;
    if (this.t.stdioForward !== undefined) this.t.noShell = true;
    return this.t;
  }
  /** -M: yes, and ask when given again (ssh.c). */
  masterFlag(): void {
    this.t.controlMaster = this.t.controlMaster === "yes" ? "ask" : "yes";
  }
  /** -S replaces the control path outright (ssh.c), whatever -o said. */
  controlPathFlag(v: string | undefined): void {
    if (v !== undefined) this.t.controlPath = v;
  }
}

/** `ssh://[user@]host[:port][/path]` (also scp:// and sftp://): undefined when not a URI. */
function parseUri(word: string, scheme: string): { user?: string; host: string; port?: string } | undefined {
  const prefix = `${scheme}://`;
  // Case-sensitive, as misc.c parse_uri compares it: `SSH://u@h` is user `SSH://u` at host `h`.
  if (!word.startsWith(prefix)) return undefined;
  let rest = word.slice(prefix.length);
  const slash = rest.indexOf("/");
  if (slash >= 0) rest = rest.slice(0, slash);
  const at = rest.lastIndexOf("@");
  const user = at >= 0 ? decodeURIComponentSafe(rest.slice(0, at).split(";")[0] ?? "") : undefined;
  rest = at >= 0 ? rest.slice(at + 1) : rest;
  let host = rest;
  let port: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    host = rest.slice(1, close < 0 ? undefined : close);
    const after = close < 0 ? "" : rest.slice(close + 1);
    if (after.startsWith(":")) port = after.slice(1);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon >= 0) {
      host = rest.slice(0, colon);
      port = rest.slice(colon + 1);
    }
  }
  const out: { user?: string; host: string; port?: string } = { host };
  if (user !== undefined && user !== "") out.user = user;
  if (port !== undefined && port !== "") out.port = port;
  return out;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `[user@]host` with the user taken up to the last @ (ssh.c uses strrchr). */
function splitUserHost(word: string): { user?: string; host: string } {
  const at = word.lastIndexOf("@");
  if (at <= 0) return { host: word };
  return { user: word.slice(0, at), host: word.slice(at + 1) };
}

/**
 * scp's and sftp's `[user@]host:path`: a word is remote when a colon comes before any slash
 * (scp.c colon()); `[v6addr]:path` brackets an IPv6 address. undefined when the word is a local path.
 */
function parseRemotePath(word: string): { user?: string; host: string } | undefined {
  if (word.startsWith(":")) return undefined;
  const at = word.lastIndexOf("@", word.indexOf(":") < 0 ? undefined : word.indexOf(":"));
  const hostStart = at >= 0 ? at + 1 : 0;
  let end: number;
  let host: string;
  if (word[hostStart] === "[") {
    const close = word.indexOf("]", hostStart);
    if (close < 0 || word[close + 1] !== ":") return undefined;
    host = word.slice(hostStart + 1, close);
    end = close + 1;
  } else {
    end = -1;
    for (let i = hostStart; i < word.length; i++) {
      if (word[i] === "/") return undefined;
      if (word[i] === ":") {
        end = i;
        break;
      }
    }
    if (end < 0) return undefined;
    host = word.slice(hostStart, end);
  }
  if (host === "") return undefined;
  return at > 0 ? { user: word.slice(0, at), host } : { host };
}

function parseSsh(args: readonly string[], t = new Target("ssh")): SshTarget {
  const on: OnOption = (l, v) => {
    if (l === "p") t.port(v);
    else if (l === "l") t.user(v);
    else if (l === "J") t.jumps(v);
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
  let { next, terminated } = getopt(args, 1, SSH, on);
  if (next < args.length) {
    const dest = args[next] as string;
    const uri = parseUri(dest, "ssh");
    const uh = uri ?? splitUserHost(dest);
    t.user(uh.user);
    t.t.host = uh.host;
    if (uri) t.port(uri.port);
    next++;
    if (next < args.length && !terminated) ({ next, terminated } = getopt(args, next, SSH, on));
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
    else if (l === "J") t.jumps(v);
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

/** sftp's `[user@]host`, an IPv6 address in brackets taken out of them. */
function bareHost(word: string): { user?: string; host: string } {
  const uh = splitUserHost(word);
  const m = /^\[(.*)\]$/.exec(uh.host);
  return m ? { ...uh, host: m[1] as string } : uh;
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
