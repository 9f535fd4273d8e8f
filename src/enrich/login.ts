import { boundArgs } from "../bytes.ts";
import { listPids, PROC, readText } from "../proc-io.ts";
import { type Place, placeOf } from "./cgroup.ts";
import { communityId } from "./community-id.ts";
import { sessionOrigin } from "./forwarded.ts";
import { auditId, type ProcessFacts } from "./process.ts";

/**
 * How the login a process belongs to began: through sshd, at a terminal (login, getty), as a cron
 * job, as a systemd unit (a service: no login at all), or none of those that we can tell.
 */
export type Entry = "sshd" | "terminal" | "cron" | "systemd" | "unknown";

/** The programs that begin a login (they call pam_loginuid), by the name the kernel gives them. */
const ENTRY_PROGRAM = new Map<string, Entry>([
  ["sshd", "sshd"],
  ["sshd-session", "sshd"],
  ["login", "terminal"],
  ["agetty", "terminal"],
  ["getty", "terminal"],
  ["cron", "cron"],
  ["CRON", "cron"],
  ["crond", "cron"],
  ["anacron", "cron"],
  ["atd", "cron"],
  ["systemd", "systemd"],
]);

const isEntryProgram = (p: ProcessFacts): boolean => ENTRY_PROGRAM.has(p.name);

/** The login behind a process: who logged in, which login, and how it began. */
export interface Login {
  /** The uid pam_loginuid set at login (kept across sudo, su, setuid); absent when no login. */
  uid?: number;
  /** The login's session number, the kernel audit's `ses`. */
  session?: number;
  entry: Entry;
  /** The process the login began with (sshd's session process, CRON, login), when it was seen. */
  program?: { pid: number; name: string };
  /**
   * The first process of the login that is not its entry program (the login shell, cron's shell):
   * ECS's entry leader. Absent when not seen.
   */
  leader?: ProcessFacts;
  /** For a login through sshd: where it came from, the address it came to, and that flow's Community ID. */
  source?: { ip: string; port: number };
  destination?: { ip: string; port: number };
  communityId?: string;
  /** For a service (entry `systemd`): its unit. */
  unit?: string;
}

/** A change of user on the way from the login to the process (sudo, su, a setuid program). */
export interface UserChange {
  /** The process that runs as the new user. */
  pid: number;
  from: number;
  to: number;
  /** What made the change: the parent that ran with the new user's rights (sudo, su), or the process itself. */
  via: string;
}

/** What is remembered of each login, by session number (never reused while the kernel runs). */
interface Known {
  entry: Entry;
  program?: { pid: number; name: string };
  leader?: ProcessFacts;
  origin?: { source: { ip: string; port: number }; destination: { ip: string; port: number } };
}

/** How much of the leader's argv a login keeps: what a record shows of an ancestor's (1 KiB). */
const LEADER_ARGV_KEEP = 1024;

function keptArgv(p: ProcessFacts): Pick<ProcessFacts, "args" | "argsBytes"> {
  const b = boundArgs(p.args, LEADER_ARGV_KEEP, p.argsBytes);
  return b.cut ? { args: b.args, argsBytes: b.cut.bytes } : { args: b.args };
}

/** Logins remembered; beyond, the oldest is forgotten (and looked for again if it shows up). */
const LOGINS_MAX = 1024;

/**
 * Finds the login behind each process. The login's first processes are usually in the connecting
 * process's ancestry; when they are not (a tmux or screen server reparented to init, a nohup'd
 * job), the processes of that login are looked for in /proc once, and what was found is remembered
 * for the login's life, so a connection made after the user logged out still names where the login
 * came from, when an earlier one was seen. Cost: ancestry walks only, plus one scan of /proc per
 * login whose entry is not in the ancestry (an unprivileged user cannot make new logins at will:
 * setting a loginuid needs CAP_AUDIT_CONTROL).
 */
export class Logins {
  private readonly known = new Map<number, Known>();
  scans = 0;

  constructor(private readonly read: (pid: number) => ProcessFacts | undefined) {}

  /** `chain`: pid 1 (or the oldest known) down to the process itself. */
  of(chain: readonly ProcessFacts[]): { login: Login; changes: UserChange[]; place: Place } | undefined {
    const p = chain[chain.length - 1];
    if (!p) return undefined;
    const place = placeOf(p.cgroup);
    const session = p.auditSession;
    if (session === undefined && p.loginUid === undefined) {
      const login: Login = { entry: place.unit?.endsWith(".service") ? "systemd" : "unknown" };
      if (login.entry === "systemd" && place.unit) login.unit = place.unit;
      return { login, changes: userChanges(chain, 0), place };
    }
    const first = session === undefined ? -1 : chain.findIndex((q) => q.auditSession === session);
    let known = session === undefined ? undefined : this.known.get(session);
    if (!known && session !== undefined) {
      known = this.find(chain.slice(first)) ?? this.scan(session);
      this.remember(session, known);
    }
    const login: Login = { entry: known?.entry ?? "unknown" };
    if (p.loginUid !== undefined) login.uid = p.loginUid;
    if (session !== undefined) login.session = session;
    if (known?.program) login.program = known.program;
    if (known?.leader) login.leader = known.leader;
    if (known?.origin) {
      login.source = known.origin.source;
      login.destination = known.origin.destination;
      login.communityId = communityId(known.origin.source, known.origin.destination);
    }
    // The changes are counted from the login's own user, from the first process of the login that is
    // not its entry program (which runs as root before it becomes the user).
    let from = Math.max(first, 0);
    while (from < chain.length - 1 && isEntryProgram(chain[from] as ProcessFacts)) from++;
    return { login, changes: userChanges(chain.slice(from), p.loginUid ?? chain[from]?.uid ?? 0), place };
  }

  /** Forgotten logins are looked for again. */
  get size(): number {
    return this.known.size;
  }

  /** The login's entry, when its first processes are `members` (oldest first, all of this login). */
  private find(members: readonly ProcessFacts[]): Known | undefined {
    const head = members[0];
    const entry = head && ENTRY_PROGRAM.get(head.name);
    if (!head || !entry) return undefined;
    const known: Known = { entry, program: { pid: head.pid, name: head.name } };
    const leader = members.find((m) => !isEntryProgram(m));
    // Remembered for the login's life: with its argv cut as a record shows an ancestor's, so that
    // the 1,024 logins remembered hold at most 1 KiB of command line each.
    if (leader) known.leader = { ...leader, ...keptArgv(leader) };
    if (entry === "sshd") {
      // The session's first sshd process holds the connection the login came in on.
      const origin = sessionOrigin(head.pid, undefined);
      if (origin) {
        known.origin = { source: { ip: origin.ip, port: origin.port }, destination: origin.local };
      }
    }
    return known;
  }

  /** The login's processes, oldest first, found by their session number in /proc. */
  private scan(session: number): Known | undefined {
    this.scans++;
    const members: ProcessFacts[] = [];
    for (const pid of listPids()) {
      if (auditId(readText(`${PROC}/${pid}/sessionid`)) !== session) continue;
      const p = this.read(pid);
      if (p && p.auditSession === session) members.push(p);
    }
    members.sort((a, b) => a.startTicks - b.startTicks || a.pid - b.pid);
    return this.find(members);
  }

  private remember(session: number, known: Known | undefined): void {
    if (this.known.size >= LOGINS_MAX) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
    // Not found is remembered too: the login's first processes are gone and will not come back.
    this.known.set(session, known ?? { entry: "unknown" });
  }
}

/**
 * Where the user changed along `chain` (oldest first), starting from `uid`: each process whose real
 * uid differs from the one before it. The change is put down to its parent when the parent ran as
 * root or with the new user's rights (sudo, su, runuser that forked it), else to the process itself
 * (a setuid program that took its owner's uid).
 */
export function userChanges(chain: readonly ProcessFacts[], uid: number): UserChange[] {
  const out: UserChange[] = [];
  let prev = uid;
  let parent: ProcessFacts | undefined;
  for (const q of chain) {
    if (q.uid !== prev) {
      const privileged = parent && (parent.euid === 0 || parent.euid === q.uid);
      const via = parent && privileged ? parent.name : q.name;
      out.push({ pid: q.pid, from: prev, to: q.uid, via });
      prev = q.uid;
    }
    parent = q;
  }
  return out;
}
