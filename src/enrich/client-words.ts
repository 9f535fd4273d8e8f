import { spawnSync } from "node:child_process";

/**
 * How SSH clients read their command line's words: BSD getopt as OpenSSH's clients use it, the
 * `ssh://` URI, `[user@]host`, and scp's and sftp's `[user@]host:path`.
 */

export interface GetoptSpec {
  /** Option letters that take a value. */
  withValue: string;
}

/** ssh's options that take a value, but -P: see sshSpec. */
const SSH_WITH_VALUE = "BbcDEeFIiJLlmOopQRSWw";

let sshSpecOnce: GetoptSpec | undefined;

/**
 * ssh's options. `-P` changed meaning between releases: a flag without a value in OpenSSH 9.2 (left
 * from the old "privileged port" option, and ignored), `-P tag` in later ones. Which one the installed
 * client has is asked of the client itself, once (`ssh -G -P x h`: its host is x when -P takes no
 * value); without a client to ask, -P takes a value, as in current releases.
 */
export function sshSpec(): GetoptSpec {
  sshSpecOnce ??= sshSpecFor(askInstalledSsh());
  return sshSpecOnce;
}

/** ssh's options, with -P a flag or an option with a value. */
export function sshSpecFor(dashPTakesValue: boolean): GetoptSpec {
  return { withValue: SSH_WITH_VALUE + (dashPTakesValue ? "P" : "") };
}

function askInstalledSsh(): boolean {
  const r = spawnSync("ssh", ["-G", "-F", "/dev/null", "-P", "sol-p-value", "sol-p-host"], {
    encoding: "utf8",
    timeout: 2000,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const host = /^hostname (\S+)$/m.exec(r.stdout ?? "")?.[1];
  return host !== "sol-p-value";
}
export const SCP: GetoptSpec = { withValue: "cDFiJlPSoX" };
export const SFTP: GetoptSpec = { withValue: "BbcDFiJloPRSsX" };
export const DBCLIENT: GetoptSpec = { withValue: "pliLRJBbcmKIosWe" };

export type OnOption = (letter: string, value: string | undefined) => void;

/**
 * BSD getopt over args[from..]: stops at the first non-option word or after `--`.
 * @returns the index of the first word not consumed, and whether options were ended: by `--`, or, as
 * ssh.c decides it, when the last word consumed is `--` (the value of an option, as in `-i --`).
 */
export function getopt(args: readonly string[], from: number, spec: GetoptSpec, on: OnOption) {
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
  return { next: i, terminated: i > from && args[i - 1] === "--" };
}

/** `ssh://[user@]host[:port][/path]` (also scp:// and sftp://): undefined when not a URI. */
export function parseUri(
  word: string,
  scheme: string,
): { user?: string; host: string; port?: string } | undefined {
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
export function splitUserHost(word: string): { user?: string; host: string } {
  const at = word.lastIndexOf("@");
  if (at <= 0) return { host: word };
  return { user: word.slice(0, at), host: word.slice(at + 1) };
}

/**
 * scp's and sftp's `[user@]host:path`: a word is remote when a colon comes before any slash
 * (scp.c colon()); `[v6addr]:path` brackets an IPv6 address. undefined when the word is a local path.
 */
export function parseRemotePath(word: string): { user?: string; host: string } | undefined {
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

/** sftp's `[user@]host`, an IPv6 address in brackets taken out of them. */
export function bareHost(word: string): { user?: string; host: string } {
  const uh = splitUserHost(word);
  const m = /^\[(.*)\]$/.exec(uh.host);
  return m ? { ...uh, host: m[1] as string } : uh;
}
