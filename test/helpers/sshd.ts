import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

export const SSHD = ["/usr/sbin/sshd", "/usr/bin/sshd"].find((p) => {
  try {
    execFileSync(p, ["-V"], { stdio: "ignore" });
    return true;
  } catch (e) {
    // `sshd -V` exits non-zero on older releases but still proves the binary runs
    return (e as { status?: number }).status !== undefined && (e as { status?: number }).status !== 127;
  }
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export interface TestSshd {
  port: number;
  dir: string;
  /** Arguments for `ssh` that connect to this server with the generated key and no prompts. */
  sshArgs: string[];
  user: string;
  /** The server's pid (its network namespace is the test's). */
  pid: number;
  stop(): void;
}

/**
 * A real sshd on 127.0.0.1 and a random port, with host and user keys generated for this test only.
 * Runs in the foreground (-D) as our child; stop() kills it and removes its directory.
 */
export async function startSshd(
  opts: {
    netnsExec?: string[];
    /**
     * Through PAM, as Debian's sshd runs (its /etc/pam.d/sshd: pam_loginuid sets the login's uid and
     * audit session), and the test key let in for these users too (root and the caller already are).
     */
    pam?: { users: string[] };
    /** Listen here instead of 127.0.0.1 (an address of the network namespace it runs in). */
    address?: string;
    port?: number;
  } = {},
): Promise<TestSshd> {
  if (!SSHD) throw new Error("sshd not found");
  const dir = mkdtempSync(join(tmpdir(), "sol-sshd-"));
  chmodSync(dir, 0o755);
  for (const k of ["host", "user"]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, k)]);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "user.pub")), { mode: 0o600 });
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const port = opts.port ?? (await freePort());
  const address = opts.address ?? "127.0.0.1";
  const user = (process.env.USER ?? execFileSync("id", ["-un"]).toString().trim()) || "root";
  // With PAM, each user's keys in a file of its own (keys/%u), readable by sshd's unprivileged child.
  const keys = join(dir, "keys");
  if (opts.pam) {
    mkdirSync(keys, { mode: 0o755 });
    for (const u of new Set([user, "root", ...opts.pam.users])) {
      writeFileSync(join(keys, u), readFileSync(join(dir, "user.pub")), { mode: 0o644 });
    }
  }
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${join(dir, "host")}`,
      `AuthorizedKeysFile ${opts.pam ? join(keys, "%u") : join(dir, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      `UsePAM ${opts.pam ? "yes" : "no"}`,
      "StrictModes no",
      "PermitRootLogin yes",
      `PidFile ${join(dir, "sshd.pid")}`,
      "LogLevel ERROR",
      "MaxStartups 400:30:800",
      "MaxSessions 400",
      "",
    ].join("\n"),
  );
  const argv = [SSHD, "-D", "-e", "-f", join(dir, "sshd_config")];
  const [cmd, ...args] = [...(opts.netnsExec ?? []), ...argv] as [string, ...string[]];
  const child: ChildProcess = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  let failed: Error | undefined;
  child.on("error", (e) => {
    failed = e;
  });
  child.on("exit", (code) => {
    failed ??= new Error(`sshd exited with ${code}: ${stderr}`);
  });
  // A binary that cannot run fails at once, not after the wait.
  await waitFor(
    `sshd listening on ${port} (${stderr})`,
    () => {
      if (failed) throw failed;
      return listening(port, child.pid);
    },
    10_000,
  );
  return {
    port,
    dir,
    user,
    pid: child.pid as number,
    sshArgs: [
      "-i",
      join(dir, "user"),
      "-p",
      String(port),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
      `${user}@${address}`,
    ],
    stop() {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True once a LISTEN socket on `port` shows in the network namespace of `pid` (ours when undefined). */
export function listening(port: number, pid: number | undefined): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  try {
    const t = readFileSync(`/proc/${pid ?? "self"}/net/tcp`, "latin1");
    return t.split("\n").some((l) => l.includes(hex) && / 0A /.test(l) && l.indexOf(hex) < 20);
  } catch {
    return false;
  }
}
