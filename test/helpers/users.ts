import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestUser {
  name: string;
  uid: number;
  home: string;
  /** The private key at ~/.ssh/id_ed25519, owned by the user. */
  key: string;
  remove(): void;
}

/**
 * A real local user for a test (useradd), with a home of its own under /tmp and `key` (a private key
 * file) copied into it; removed with its home by remove(). The password is `*`: no password login,
 * but not a locked account, so sshd lets its key in.
 */
export function addTestUser(name: string, key: string): TestUser {
  // A user left by a test that was killed: start clean.
  execFileSync("sh", ["-c", `userdel -f ${name} 2>/dev/null || true`]);
  const home = mkdtempSync(join(tmpdir(), `${name}-`));
  chmodSync(home, 0o755);
  execFileSync("useradd", ["-M", "-d", home, "-s", "/bin/bash", "-p", "*", name]);
  const uid = Number(execFileSync("id", ["-u", name]).toString().trim());
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  const dest = join(home, ".ssh", "id_ed25519");
  copyFileSync(key, dest);
  chmodSync(dest, 0o600);
  for (const p of [home, join(home, ".ssh"), dest]) chownSync(p, uid, uid);
  return {
    name,
    uid,
    home,
    key: dest,
    remove() {
      execFileSync("sh", [
        "-c",
        `pkill -KILL -u ${name} 2>/dev/null; userdel -f ${name} 2>/dev/null || true`,
      ]);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
