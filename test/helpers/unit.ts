import { readFileSync } from "node:fs";
import { ROOT } from "./daemon.ts";

export const UNIT_PATH = `${ROOT}deploy/ssh-outbound-logger.service`;

/** A unit file's settings: every `Key=value` line, in order, keyed by setting (sections ignored). */
export function readUnit(path = UNIT_PATH): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

/** The last value of a setting (systemd's rule for single-valued settings), or undefined. */
export function setting(unit: Map<string, string[]>, key: string): string | undefined {
  return unit.get(key)?.at(-1);
}

/** `CapabilityBoundingSet=CAP_A CAP_B` as setpriv's `-all,+a,+b`. */
export function boundingSetForSetpriv(unit: Map<string, string[]>): string {
  const caps = (unit.get("CapabilityBoundingSet") ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
  if (caps.length === 0) throw new Error("the unit sets no CapabilityBoundingSet");
  return ["-all", ...caps.map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`)].join(",");
}

const SANDBOX_SCRIPT = `
set -eu
mount --make-rprivate /
# ProtectSystem=strict, ProtectHome=read-only, ProtectKernelTunables, ProtectControlGroups: every mount
# read-only except /proc and /dev.
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do
  case "$mp" in /proc|/proc/*|/dev|/dev/*) continue ;; esac
  mount -o remount,bind,ro "$mp"
done
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
# ReadWritePaths: what LogsDirectory=/StateDirectory=/RuntimeDirectory= make writable.
for d in $SANDBOX_RW; do mount --bind "$d" "$d" && mount -o remount,bind,rw "$d"; done
# PrivateTmp. The program under test may live under /tmp (a clone there): carried over.
keep=""
case "$SANDBOX_KEEP" in /tmp/* | /var/tmp/*)
  keep=/dev/shm/unit-sandbox-keep.$$
  mkdir -p "$keep" && mount --bind "$SANDBOX_KEEP" "$keep" ;;
esac
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
if [ -n "$keep" ]; then
  mkdir -p "$SANDBOX_KEEP" && mount --move "$keep" "$SANDBOX_KEEP" && rmdir "$keep"
fi
# ProtectKernelTunables (kallsyms, kcore) and ProtectKernelLogs (kmsg): inaccessible.
: > /tmp/.inaccessible && chmod 000 /tmp/.inaccessible
for f in /proc/kallsyms /proc/kcore /proc/kmsg /dev/kmsg; do
  [ -e "$f" ] && mount --bind /tmp/.inaccessible "$f"
done
if touch /usr/.sandbox-probe 2>/dev/null; then echo "sandbox: /usr is writable" >&2; exit 97; fi
umask "$SANDBOX_UMASK"
exec setpriv $SANDBOX_NNP --inh-caps -all --bounding-set "$SANDBOX_CAPS" -- "$@"
`;

/**
 * A command prefix that runs a program under the unit's restrictions as far as they can be had
 * without systemd as PID 1: a private mount namespace with the unit's file-system protections,
 * its umask, NoNewPrivileges, and the capability bounding set. Not emulated: the seccomp
 * SystemCallFilter, RestrictAddressFamilies, PrivateDevices, RestrictNamespaces.
 */
export function unitSandbox(
  writable: string[],
  unit = readUnit(),
): { prefix: string[]; env: NodeJS.ProcessEnv } {
  return {
    prefix: ["unshare", "-m", "--propagation", "private", "--", "sh", "-c", SANDBOX_SCRIPT, "unit-sandbox"],
    env: {
      SANDBOX_RW: writable.join(" "),
      SANDBOX_KEEP: ROOT.replace(/\/$/, ""),
      SANDBOX_CAPS: boundingSetForSetpriv(unit),
      SANDBOX_UMASK: setting(unit, "UMask") ?? "0022",
      SANDBOX_NNP: setting(unit, "NoNewPrivileges") === "yes" ? "--no-new-privs" : "",
    },
  };
}
