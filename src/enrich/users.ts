import { readFileSync, statSync } from "node:fs";

/**
 * uid → user name from /etc/passwd, re-read when the file changes. Users that only a network directory
 * knows (LDAP, SSSD) are not in the file: they get their numeric id as name, never an error. Calling
 * getpwuid(3) would need a native addon or a child process per lookup, which the hot path must not pay.
 */
export class Users {
  private names = new Map<number, string>();
  private mtimeMs = -1;
  /** When the file was last looked at: at most once a second (a connection names a dozen users). */
  private checkedMs = -Infinity;

  constructor(private readonly path = "/etc/passwd") {}

  name(uid: number): string {
    this.reloadIfChanged();
    return this.names.get(uid) ?? String(uid);
  }

  private reloadIfChanged(): void {
    const now = Date.now();
    if (now - this.checkedMs < 1000) return;
    this.checkedMs = now;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
    } catch {
      mtimeMs = 0;
    }
    if (mtimeMs === this.mtimeMs) return;
    this.mtimeMs = mtimeMs;
    const names = new Map<number, string>();
    let text = "";
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      // No passwd file (a minimal container): every user is a number.
    }
    for (const line of text.split("\n")) {
      const [name, , uid] = line.split(":");
      if (name && uid && /^\d+$/.test(uid) && !names.has(Number(uid))) names.set(Number(uid), name);
    }
    this.names = names;
  }
}
