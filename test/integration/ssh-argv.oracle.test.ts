import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseClientArgv, type SshTarget } from "../../src/enrich/ssh-argv.ts";
import { hasCommand, needs } from "../helpers/ci.ts";
import { scratchDir } from "../helpers/scratch.ts";

// OpenSSH itself is the oracle for how a command line is read. `ssh -G -F /dev/null ARGS` prints the
// user, host, port, ProxyJump, forwards, agent forwarding and identity files it would use; scp and sftp
// are run with -S pointing at a stub that records the ssh argv they build, and `ssh -G` reads that.
// Seeded generators make 2,300 lines of the forms people type and the corner cases of OpenSSH's own
// rules (first-wins, -o quoting and comments, ports as +1/010022/service names, URIs, -P against -o Port
// and the URI's port, ProxyCommand against ProxyJump, -W and ClearAllForwardings, duplicate files), and
// the corners found later: an empty `-l ''`, an option whose value is `--` (`-i --`: ssh then reads no
// option after the host), `#` in a -J value (read as a comment), and ssh's own -P (a flag in 9.2).
// Every line OpenSSH accepts must read the same with our parser.

const ready = hasCommand("ssh") && hasCommand("scp") && hasCommand("sftp");

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Gen {
  r: () => number;
  pick<T>(a: readonly T[]): T;
}

function gen(seed: number): Gen {
  const r = rng(seed);
  return { r, pick: (a) => a[Math.floor(r() * a.length)] as (typeof a)[number] };
}

const PORTS = [
  "22",
  "2222",
  "1",
  "65535",
  "+1",
  "010022",
  "0",
  "70000",
  "abc",
  "22 ",
  " 22",
  "ssh",
  "-1",
  "2222#x",
];
const USERS = ["alice", "bob", "u-1", "root", "'u-1'", '"q u"', "x@y"];
const HOSTS = ["db1", "DB2.example.com", "10.0.0.5", "[::1]", "::1", "host-3"];
const URIS = ["ssh://h4", "ssh://carol@h5:2200", "SSH://dan@h6", "ssh://[2001:db8::1]:23"];
const JUMPS = ["bastion", "a@j1:2222", "j1,j2", "none", "u@j3,j4:23", "j6#x", "j7,j8#y", '"j9"'];
const QUOTED = [
  'User="v w"',
  "User=a\\ b",
  "user 'q' # c",
  "USER=up",
  " User = sp",
  "User=\\'x",
  'ProxyJump="j5"',
  'Port="2200"',
  "Port=2222 # comment",
  "Port +1",
];

function sshPiece(g: Gen, ids: readonly string[]): string[] {
  const { pick } = g;
  switch (Math.floor(g.r() * 25)) {
    case 22:
      return ["-l", ""];
    case 23:
      return ["-i", "--"];
    case 0:
      return ["-p", pick(PORTS)];
    case 1:
      return [`-p${pick(PORTS)}`];
    case 2:
      return ["-l", pick(USERS)];
    case 3:
      return ["-o", `Port=${pick(PORTS)}`];
    case 4:
      return ["-o", `User=${pick(USERS)}`];
    case 5:
      return [`-oUser=${pick(USERS)}`];
    case 6:
      return ["-J", pick(JUMPS)];
    case 7:
      return ["-o", `ProxyJump=${pick(JUMPS)}`];
    case 8:
      return ["-o", "ProxyCommand=nc %h %p"];
    case 9:
      return ["-L", pick(["8080:localhost:80", "127.0.0.1:9000:db:5432", "5000:[::1]:22"])];
    case 10:
      return ["-R", pick(["2222:localhost:22", "9999:h:80"])];
    case 11:
      return ["-D", pick(["1080", "127.0.0.1:1081"])];
    case 12:
      return [pick(["-A", "-a"])];
    case 13:
      return ["-o", `ForwardAgent=${pick(["yes", "no", "true"])}`];
    case 14:
      return ["-i", pick(ids)];
    case 15:
      return ["-o", `IdentityFile=${pick(ids)}`];
    case 16:
      return [pick(["-N", "-v", "-C", "-4", "-T", "-q", "-x", "-X", "-Y", "-P"])];
    case 17:
      return ["-o", `LocalForward=${pick(["8081 localhost:81", "8082:localhost:82"])}`];
    case 18:
      return ["-o", "ClearAllForwardings=yes"];
    case 19:
      return ["-W", pick(["db:22", "[db]:23"])];
    case 20:
      return ["-o", pick(QUOTED)];
    case 21:
      return ["-o", `RemoteForward=${pick(["7000 h2:70", "7001:h3:71"])}`];
    default:
      return ["-o", `DynamicForward=${pick(["1082", "127.0.0.1:1083"])}`];
  }
}

function sshLine(g: Gen, ids: readonly string[]): string[] {
  const pre: string[] = [];
  for (let i = 0, n = Math.floor(g.r() * 5); i < n; i++) pre.push(...sshPiece(g, ids));
  const dest = g.r() < 0.2 ? g.pick(URIS) : `${g.r() < 0.4 ? `${g.pick(USERS)}@` : ""}${g.pick(HOSTS)}`;
  const post: string[] = [];
  if (g.r() < 0.3) for (let i = 0, n = 1 + Math.floor(g.r() * 2); i < n; i++) post.push(...sshPiece(g, ids));
  if (g.r() < 0.1) post.unshift("--");
  return ["ssh", ...pre, dest, ...post, ...(g.r() < 0.3 ? ["uptime"] : [])];
}

function copyLine(g: Gen, client: "scp" | "sftp", ids: readonly string[], local: string): string[] {
  const { pick } = g;
  const pieces = (): string[] => {
    switch (Math.floor(g.r() * 12)) {
      case 0:
        return ["-P", pick(PORTS)];
      case 1:
        return [`-P${pick(PORTS)}`];
      case 2:
        return ["-o", `Port=${pick(PORTS)}`];
      case 3:
        return ["-o", `User=${pick(USERS)}`];
      case 4:
        return ["-J", pick(JUMPS)];
      case 5:
        return ["-o", `ProxyJump=${pick(["gw", "none"])}`];
      case 6:
        return ["-i", pick(ids)];
      case 7:
        return ["-o", `IdentityFile=${pick(ids)}`];
      case 8:
        return [pick(["-q", "-C", "-r", "-4", "-v"])];
      case 9:
        return ["-A"];
      case 10:
        return ["-o", "ProxyCommand=nc %h %p"];
      default:
        return ["-o", `ForwardAgent=${pick(["yes", "no"])}`];
    }
  };
  const pre: string[] = [];
  for (let i = 0, n = Math.floor(g.r() * 4); i < n; i++) pre.push(...pieces());
  const u = g.r() < 0.5 ? `${pick(["alice", "bob", "u-1"])}@` : "";
  const h = pick(["srv", "Srv2.example.com", "10.0.0.5", "[::1]", "[2001:db8::2]"]);
  if (client === "scp") {
    const remote = pick([
      `${u}${h}:/tmp/`,
      `${u}${h}:`,
      `scp://${u}srv:2200/p`,
      `scp://${u}srv/p`,
      `SCP://${u}srv:/p`,
    ]);
    return ["scp", ...pre, ...(g.r() < 0.5 ? [local, remote] : [remote, "/tmp/"])];
  }
  return ["sftp", ...pre, pick([`${u}${h}`, `${u}${h}:/up`, `sftp://${u}srv:2300/dir`, `sftp://${u}srv`])];
}

/**
 * `ssh -G` output as key → values, run in `cwd` (which holds a file named `--`: ssh drops an identity
 * file it cannot stat, and `-i --` is there to test how the word `--` ends options). Undefined when
 * OpenSSH rejects the line.
 */
function sshG(args: readonly string[], cwd: string): Record<string, string[]> | undefined {
  const r = spawnSync("ssh", ["-G", "-F", "/dev/null", ...args], { encoding: "utf8", cwd });
  if (r.status !== 0) return undefined;
  const out: Record<string, string[]> = {};
  for (const line of r.stdout.split("\n")) {
    const i = line.indexOf(" ");
    if (i <= 0) continue;
    const key = line.slice(0, i);
    out[key] = [...(out[key] ?? []), line.slice(i + 1)];
  }
  return out;
}

/** Fields of a forward spec split at colons, a [bracketed] part kept whole (its brackets taken off). */
function fields(spec: string): string[] {
  return (spec.match(/\[[^\]]*\]|[^:]+/g) ?? []).map((f) => f.replace(/^\[(.*)\]$/, "$1"));
}

const listen = (bindPort: string[]): string =>
  bindPort.length === 2 ? `[${bindPort[0]}]:${bindPort[1]}` : (bindPort[0] as string);

/** Our forward as ssh -G prints it: `listen [host]:port`, or the listen address alone for -D. */
function asPrinted(kind: "local" | "remote" | "dynamic", spec: string): string {
  if (kind === "dynamic") return listen(fields(spec));
  const words = spec.split(/\s+/);
  const f =
    words.length === 2 ? [...fields(words[0] as string), ...fields(words[1] as string)] : fields(spec);
  return `${listen(f.slice(0, -2))} [${f.at(-2)}]:${f.at(-1)}`;
}

const DEFAULT_IDS = [
  "~/.ssh/id_rsa",
  "~/.ssh/id_ecdsa",
  "~/.ssh/id_ecdsa_sk",
  "~/.ssh/id_ed25519",
  "~/.ssh/id_ed25519_sk",
  "~/.ssh/id_xmss",
  "~/.ssh/id_dsa",
];

/** What ssh -G says, and what our target says, for the facts compared. */
function compare(t: SshTarget | undefined, o: Record<string, string[]>, user: string): string[] {
  const ours: Record<string, string> = {
    user: t?.user ?? user,
    hostname: (t?.host ?? "").toLowerCase(),
    port: String(t?.port ?? 22),
    proxyjump: t?.jump.length ? t.jump.join(",") : "",
    forwardagent: t?.agent ? "yes" : "no",
    identityfile: (t?.identities ?? DEFAULT_IDS).join(","),
    localforward: (t?.forwards?.local ?? []).map((f) => asPrinted("local", f)).join(","),
    remoteforward: (t?.forwards?.remote ?? []).map((f) => asPrinted("remote", f)).join(","),
    dynamicforward: (t?.forwards?.dynamic ?? []).map((f) => asPrinted("dynamic", f)).join(","),
  };
  const diffs: string[] = [];
  for (const [k, v] of Object.entries(ours)) {
    const theirs = (o[k] ?? []).join(",");
    if (theirs !== v) diffs.push(`${k}: ours ${JSON.stringify(v)}, OpenSSH ${JSON.stringify(theirs)}`);
  }
  return diffs;
}

test("2,300 seeded command lines read as OpenSSH reads them (ssh -G the oracle; scp and sftp through -S)", (t) => {
  if (!needs(t, ready, "ssh, scp and sftp are needed (apt-get install openssh-client)")) return;
  const dir = scratchDir("sol-oracle-");
  const ids = ["id_a", "id_b"].map((f) => join(dir, f));
  for (const f of [...ids, join(dir, "--")]) writeFileSync(f, "");
  const local = join(dir, "local.txt");
  writeFileSync(local, "x\n");
  const stub = join(dir, "stub.sh");
  const recorded = join(dir, "argv");
  writeFileSync(stub, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${recorded}"\nexit 1\n`);
  chmodSync(stub, 0o755);
  const user = spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim();

  const lines: string[][] = [];
  const g = gen(20261126);
  for (let i = 0; i < 1300; i++) lines.push(sshLine(g, ids));
  for (let i = 0; i < 500; i++) lines.push(copyLine(g, "scp", ids, local));
  for (let i = 0; i < 500; i++) lines.push(copyLine(g, "sftp", ids, local));

  let accepted = 0;
  const disagreements: string[] = [];
  for (const argv of lines) {
    let sshArgs = argv.slice(1);
    if (argv[0] !== "ssh") {
      rmSync(recorded, { force: true });
      spawnSync(argv[0] as string, ["-S", stub, ...argv.slice(1)], { stdio: "ignore", timeout: 10_000 });
      let text: string;
      try {
        text = readFileSync(recorded, "utf8");
      } catch {
        continue; // scp or sftp refused the line before running ssh
      }
      sshArgs = text.split("\n").slice(0, -1);
    }
    const o = sshG(sshArgs, dir);
    if (!o) continue;
    accepted++;
    const diffs = compare(parseClientArgv(argv), o, user);
    if (diffs.length) disagreements.push(`${JSON.stringify(argv)}: ${diffs.join("; ")}`);
  }
  t.diagnostic(
    `${lines.length} lines, ${accepted} accepted by OpenSSH, ${disagreements.length} disagreements`,
  );
  assert.ok(accepted >= 1500, `OpenSSH accepted only ${accepted} lines`);
  assert.deepEqual(disagreements.slice(0, 10), [], `${disagreements.length} disagreements`);
});
