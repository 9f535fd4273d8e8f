import { a2port, splitOptionLine, splitWords } from "./openssh-words.ts";

/**
 * The typed target (what the user asked an SSH client for) and the collector that builds it from the
 * options a client parser hands it, with OpenSSH's rules for which value wins (ssh.c, readconf.c).
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

const toPort = a2port;

/** yes/true → true, no/false → false (readconf.c's flag values), else undefined. */
function yes(v: string): boolean | undefined {
  const l = v.toLowerCase();
  return l === "yes" || l === "true" ? true : l === "no" || l === "false" ? false : undefined;
}

/** Collects first-wins values the way ssh.c and readconf.c do. */
export class Target {
  readonly t: SshTarget;
  constructor(client: string) {
    this.t = { client, jump: [] };
  }
  /** The first user given wins; `-l ''` gives an empty one, and it wins too (ssh.c). */
  user(v: string | undefined, emptyCounts = false): void {
    if (v !== undefined && (v !== "" || emptyCounts) && this.t.user === undefined) this.t.user = v;
  }
  port(v: string | undefined): void {
    const p = toPort(v);
    if (p !== undefined && this.t.port === undefined) this.t.port = p;
  }
  /** ProxyJump: the first given wins; a ProxyCommand given before it means no jump (readconf.c). */
  jumps(v: string | undefined, sep = ","): void {
    if (v === undefined || this.jumpSet || this.proxyCommandSet) return;
    this.jumpSet = true;
    // OpenSSH 9.2 ends a ProxyJump value at its first `#`, wherever it is (`-J a,b#c` is a,b).
    const hash = v.indexOf("#");
    if (hash >= 0) v = v.slice(0, hash);
    if (v.toLowerCase() === "none") return;
    this.t.jump = v
      .split(sep)
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  /** -J: ssh makes it a `ProxyJump` line of configuration, read as one (quotes, `#` comments). */
  jumpFlag(v: string | undefined): void {
    if (v !== undefined) this.option(`ProxyJump ${v}`);
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
