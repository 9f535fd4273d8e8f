import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { effectiveCapabilities } from "../capabilities.ts";
import type { Config, ProtocolMode } from "../config.ts";
import { readText } from "../proc-io.ts";
import { configuredLog } from "../report/files.ts";
import { checkEbpf } from "../sources/ebpf/check.ts";
import {
  attachError,
  type PinnedProbe,
  type ProbeInfo,
  pinnedProbe,
  probeAddon,
  probeLoadError,
  protocolArg,
} from "../sources/ebpf/probe.ts";
import { SourceError, type SourceErrorCode } from "../sources/errors.ts";
import { listSockets, sockDiag, sockDiagLoadError, stateMask } from "../sources/procfs/sock-diag.ts";

export type Level = "ok" | "warn" | "fail";

export interface Check {
  level: Level;
  title: string;
  detail: string;
  fix?: string;
}

/** Paths the checks look at; tests point them elsewhere. */
export interface Places {
  units: string[];
  wants: string;
  logrotate: string;
  mountinfo: string;
}

export const PLACES: Places = {
  units: [
    "/etc/systemd/system/ssh-outbound-logger.service",
    "/lib/systemd/system/ssh-outbound-logger.service",
    "/usr/lib/systemd/system/ssh-outbound-logger.service",
  ],
  wants: "/etc/systemd/system/multi-user.target.wants/ssh-outbound-logger.service",
  logrotate: "/etc/logrotate.d/ssh-outbound-logger",
  mountinfo: "/proc/self/mountinfo",
};

export function privileges(): Check {
  const has = effectiveCapabilities();
  const uid = process.getuid?.() ?? -1;
  const missing = (["SYS_PTRACE", "DAC_READ_SEARCH", "BPF", "PERFMON", "NET_ADMIN"] as const).filter(
    (c) => !has(c),
  );
  if (missing.length === 0) {
    return {
      level: "ok",
      title: "privileges",
      detail: `uid ${uid} with CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN`,
    };
  }
  return {
    level: "warn",
    title: "privileges",
    detail: `uid ${uid}, missing ${missing.map((c) => `CAP_${c}`).join(", ")}: ${
      missing.some((c) => c === "SYS_PTRACE" || c === "DAC_READ_SEARCH")
        ? "connections of other users' processes are logged without process attribution"
        : missing.some((c) => c === "BPF" || c === "PERFMON")
          ? "the eBPF source cannot load its program"
          : "--protocol packets cannot attach its cgroup_skb programs to the cgroup v2 root (nor can the default on a kernel without the socket hooks' tracepoints)"
    }`,
    fix: "run as root (the systemd unit does, with only these five capabilities)",
  };
}

export function procMount(places: Places): Check {
  const line = (readText(places.mountinfo) ?? "").split("\n").find((l) => l.split(" ")[4] === "/proc");
  if (!line)
    return { level: "fail", title: "/proc", detail: "/proc is not mounted", fix: "mount -t proc proc /proc" };
  const hidepid = /hidepid=(\w+)/.exec(line)?.[1];
  if (hidepid && hidepid !== "0" && hidepid !== "off" && !effectiveCapabilities()("SYS_PTRACE")) {
    return {
      level: "warn",
      title: "/proc",
      detail: `mounted with hidepid=${hidepid}: other users' processes are hidden from us`,
      fix: "run as root, or add the daemon's group to /proc's gid= mount option",
    };
  }
  return {
    level: "ok",
    title: "/proc",
    detail: hidepid
      ? `mounted, hidepid=${hidepid} (we may see through it)`
      : "mounted, every process visible",
  };
}

export function procfsSource(): Check {
  if (!existsSync("/proc/self/net/tcp")) {
    return {
      level: "fail",
      title: "procfs source",
      detail: "/proc/self/net/tcp is missing",
      fix: "mount /proc",
    };
  }
  if (sockDiag() === null) {
    return {
      level: "warn",
      title: "procfs source",
      detail: `can run, reading /proc/net/tcp (slower on hosts with many sockets): the sock_diag addon did not load (${sockDiagLoadError()})`,
      fix: "reinstall with a C compiler present (npm ci builds native/sock_diag.c), or use the single binary",
    };
  }
  try {
    listSockets(stateMask(["ESTABLISHED"]), [22]);
  } catch (err) {
    return {
      level: "warn",
      title: "procfs source",
      detail: `can run, reading /proc/net/tcp: netlink sock_diag failed (${(err as Error).message})`,
      fix: "allow AF_NETLINK sockets (RestrictAddressFamilies=, seccomp)",
    };
  }
  return {
    level: "ok",
    title: "procfs source",
    detail:
      "can run; sockets listed through netlink sock_diag with an in-kernel port filter. It cannot see payloads: SSH is recognised by port and client name only, never by its protocol (a renamed client to an unlisted port escapes it)",
  };
}

/** What to do about each reason the eBPF source cannot run, chosen by the check's code. */
const EBPF_FIX: Partial<Record<SourceErrorCode, string>> = {
  ERR_PROBE_UNAVAILABLE:
    "reinstall with clang, libbpf-dev and linux-libc-dev present (npm ci builds native/probe.bpf.c), and libbpf1 at run time; or use the .deb",
  ERR_NO_BTF:
    "a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default on Debian 11+ and most distributions)",
  ERR_NO_BPF_CAPABILITIES: "run as root, or with CAP_BPF and CAP_PERFMON (the shipped unit grants them)",
  ERR_NO_TRACEFS: "mount -t tracefs tracefs /sys/kernel/tracing",
  ERR_PROBE_ATTACH: "the kernel refused the program: see the message; the daemon runs procfs meanwhile",
};

/**
 * The eBPF source: its requirements, then the real thing: the program loaded and attached, then closed;
 * with `protocol`, its protocol programs too (protocolCheck reports them).
 */
export function ebpfSource(protocol: ProtocolMode = "on"): Check {
  const c = checkEbpf();
  if (!c.ok)
    return { level: "warn", title: "eBPF source", detail: `cannot run: ${c.reason}`, fix: EBPF_FIX[c.code] };
  const tried = tryAttach(protocol);
  if (tried) {
    return {
      level: "warn",
      title: "eBPF source",
      detail: `cannot run: ${tried.message}`,
      fix: EBPF_FIX[tried.code],
    };
  }
  return {
    level: "ok",
    title: "eBPF source",
    detail: `can run: ${c.reason}, attached through ${attachedBy === "tracefs" ? "the tracefs tracepoint sock:inet_sock_set_state" : "tp_btf/inet_sock_set_state (no tracefs needed)"}; loaded and attached here for a moment`,
  };
}

/** How the last tryAttach attached the program, and how its protocol programs attached (or why not). */
let attachedBy = "";
let protocolBy: { hooks?: ProbeInfo["protocol"]; root?: string; error?: string | null; note?: string } = {};

function tryAttach(protocol: ProtocolMode): SourceError | undefined {
  const a = probeAddon();
  if (!a) return new SourceError("ERR_PROBE_UNAVAILABLE", probeLoadError());
  try {
    const arg = protocolArg(protocol);
    const root = arg?.cgroup ?? undefined;
    const h = a.open([22], [], 0, 1, null, arg, () => undefined);
    const info = a.info(h);
    attachedBy = info.attach;
    protocolBy =
      protocol === "off"
        ? {}
        : {
            hooks: info.protocol,
            ...(root === undefined ? {} : { root }),
            error: a.protocolError(h),
            ...(info.protocolNote === undefined ? {} : { note: info.protocolNote }),
          };
    a.close(h);
    return undefined;
  } catch (error) {
    return attachError(error);
  }
}

/**
 * SSH by its protocol (eBPF only, --protocol): through which hooks its programs attached when the eBPF
 * check loaded the probe, or why they did not. Call after ebpfSource().
 */
export function protocolCheck(config: Config, ebpf: Check): Check {
  const title = "SSH by protocol";
  if (config.protocol === "off")
    return { level: "ok", title, detail: "off (--protocol off): port and client name choose" };
  if (ebpf.level !== "ok")
    return {
      level: "warn",
      title,
      detail: "needs the eBPF source, which cannot run here: port and client name choose",
    };
  if (protocolBy.error || protocolBy.hooks === "off" || protocolBy.hooks === undefined) {
    const noCgroup = protocolBy.root === undefined && config.protocol === "packets";
    return {
      level: "warn",
      title,
      detail: noCgroup
        ? "no cgroup v2 hierarchy is mounted, which the packet hooks attach to: port and client name choose"
        : `cannot attach here (${protocolBy.error ?? "unknown"}): port and client name choose`,
      ...(noCgroup
        ? { fix: "mount -t cgroup2 none /sys/fs/cgroup/unified (systemd does on every current distribution)" }
        : {}),
    };
  }
  const looked = "every outbound TCP connection's first bytes each way are looked at once";
  if (protocolBy.hooks === "packets")
    return {
      level: protocolBy.note === undefined ? "ok" : "warn",
      title,
      detail: `on: ${looked} (packet hooks: cgroup_skb on ${protocolBy.root}, run for every IP packet${
        protocolBy.note === undefined ? "" : `; ${protocolBy.note}`
      }); loaded and attached here for a moment`,
    };
  return {
    level: "ok",
    title,
    detail: `on: ${looked} (socket hooks: tp_btf/tcp_sendmsg_locked and tp_btf/tcp_probe, run for TCP only); loaded and attached here for a moment`,
  };
}

/** A ring buffer's bytes as records: each record is 136 or 248 bytes and an 8-byte header. */
export function waitingWords(bytes: number): string {
  if (bytes <= 0) return "nothing waiting in its ring buffer";
  return `${bytes} bytes (about ${Math.round(bytes / 144)} events) waiting in its ring buffer`;
}

/** How long ago a CLOCK_MONOTONIC time was, in words. */
function agoMono(monoNs: bigint): string {
  const a = probeAddon();
  if (!a || monoNs === 0n) return "at an unknown time";
  const s = Number(a.monotonicNs() - monoNs) / 1e9;
  return s < 120
    ? `${s.toFixed(0)} s ago`
    : s < 7200
      ? `${(s / 60).toFixed(0)} min ago`
      : `${(s / 3600).toFixed(1)} h ago`;
}

/**
 * The probe pinned in the kernel between runs (--pin): whether one is there, whose, since when, how it
 * attached, and what waits in it for the next daemon.
 */
export function pinnedProbeCheck(
  config: Config,
  read: (dir: string) => PinnedProbe | null = pinnedProbe,
): Check {
  const title = "pinned probe";
  if (config.pin === undefined) {
    return {
      level: "warn",
      title,
      detail: "not pinned (--pin none): connections made while the daemon is down are not seen",
      fix: "leave --pin (SSH_OUTBOUND_PIN) at its default, /sys/fs/bpf/ssh-outbound-logger",
    };
  }
  if (!probeAddon()) return { level: "ok", title, detail: `none (the eBPF probe is not available here)` };
  const p = read(config.pin);
  if (!p) {
    return {
      level: "ok",
      title,
      detail: `nothing pinned in ${config.pin}: the daemon pins its probe there when it runs with the eBPF source`,
    };
  }
  const since = new Date(Number(p.pinnedAtNs / 1_000_000n)).toISOString();
  const reader =
    p.readerPid > 0
      ? `the daemon with pid ${p.readerPid} reads it (its last look ${agoMono(p.readMonoNs)})`
      : p.stoppedMonoNs === 0n
        ? `no daemon reads it (the last one ended without stopping, its last look ${agoMono(p.readMonoNs)}); the kernel keeps capturing`
        : `no daemon reads it (the last one stopped ${agoMono(p.stoppedMonoNs)}); the kernel keeps capturing`;
  const detail = `${config.pin}: pinned since ${since}, attached through ${p.attach === "tracefs" ? "tracefs" : "tp_btf"} (${p.links}); ${reader}; ${waitingWords(p.waitingBytes)}`;
  if (!p.ours) {
    return {
      level: "warn",
      title,
      detail: `${detail}; pinned by another version (records of layout ${p.recordVersion}): the next start reads what it can of it and replaces it`,
    };
  }
  return { level: "ok", title, detail };
}

/** Whether the configured source can run, judged from the two source checks. */
export function configuredSource(config: Config, procfs: Check, ebpf: Check): Check {
  const can = { procfs: procfs.level !== "fail", ebpf: ebpf.level === "ok" };
  if (config.source === "auto") {
    return can.ebpf || can.procfs
      ? { level: "ok", title: "configured source", detail: `auto: ${can.ebpf ? "ebpf" : "procfs"} will run` }
      : {
          level: "fail",
          title: "configured source",
          detail: "auto: neither source can run here",
          fix: procfs.fix,
        };
  }
  return can[config.source]
    ? { level: "ok", title: "configured source", detail: `${config.source} can run` }
    : {
        level: "fail",
        title: "configured source",
        detail: `${config.source} was asked for (--source or SSH_OUTBOUND_SOURCE) and cannot run here`,
        fix: (config.source === "ebpf" ? ebpf.fix : procfs.fix) ?? "use --source auto",
      };
}

export function logPath(config: Config): Check {
  const path = config.output ?? configuredLog();
  const title = "log file";
  try {
    if (existsSync(path)) {
      accessSync(path, constants.W_OK);
      return {
        level: "ok",
        title,
        detail: `${path} is writable (${(statSync(path).mode & 0o777).toString(8)})`,
      };
    }
    let dir = dirname(path);
    while (!existsSync(dir)) dir = dirname(dir);
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
    return { level: "ok", title, detail: `${path} will be created (${dir} is writable)` };
  } catch {
    return {
      level: "warn",
      title,
      detail: `${path} is not writable by uid ${process.getuid?.()}`,
      fix: "run as root, or --output / SSH_OUTBOUND_OUTPUT to a writable path",
    };
  }
}

export function unitInstalled(places: Places): Check {
  const unit = places.units.find((u) => existsSync(u));
  if (!unit) {
    return {
      level: "warn",
      title: "systemd unit",
      detail: "not installed: nothing starts the daemon at boot",
      fix: "install the .deb, or copy deploy/ssh-outbound-logger.service to /etc/systemd/system/ (README, Deploy)",
    };
  }
  if (!existsSync(places.wants)) {
    return {
      level: "warn",
      title: "systemd unit",
      detail: `${unit} is installed but not enabled`,
      fix: "systemctl enable --now ssh-outbound-logger",
    };
  }
  return { level: "ok", title: "systemd unit", detail: `${unit}, enabled` };
}

export function logrotateConfig(config: Config, places: Places): Check {
  if (!existsSync(places.logrotate)) {
    return {
      level: "warn",
      title: "logrotate",
      detail: `${places.logrotate} is missing: the log grows without bound`,
      fix: "install deploy/ssh-outbound-logger.logrotate there (README, Deploy)",
    };
  }
  const text = readFileSync(places.logrotate, "utf8");
  const directives = text.split("\n").filter((l) => !l.trim().startsWith("#"));
  if (directives.some((l) => /^\s*copytruncate\b/.test(l))) {
    return {
      level: "warn",
      title: "logrotate",
      detail: `${places.logrotate} uses copytruncate, which loses the lines written between copy and truncate`,
      fix: "use the shipped config: create + postrotate SIGHUP",
    };
  }
  const path = config.output ?? configuredLog();
  if (!text.includes(path)) {
    return {
      level: "warn",
      title: "logrotate",
      detail: `${places.logrotate} does not name ${path}`,
      fix: `rotate ${path}`,
    };
  }
  return { level: "ok", title: "logrotate", detail: `${places.logrotate} rotates ${path} (no copytruncate)` };
}
