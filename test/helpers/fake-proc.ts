import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A directory laid out as /proc for the pieces that read it (SSH_OUTBOUND_PROC_ROOT): processes with
 * a name, a network namespace link, descriptor links and CPU time. Links are real symlinks whose
 * targets read back as the kernel's (`socket:[123]`, `net:[456]`).
 */
export function fakeProc() {
  const root = mkdtempSync(join(tmpdir(), "sol-fakeproc-"));
  symlinkSync("/proc/self", join(root, "self"));
  const api = {
    root,
    process(
      pid: number,
      o: { comm?: string; ppid?: number; netns?: number; sockets?: number[]; cpu?: number } = {},
    ) {
      const dir = join(root, String(pid));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(join(dir, "ns"), { recursive: true });
      mkdirSync(join(dir, "fd"));
      symlinkSync(`net:[${o.netns ?? 4026531840}]`, join(dir, "ns", "net"));
      if (o.comm !== undefined) {
        writeFileSync(join(dir, "comm"), `${o.comm}\n`);
        // Fields 3 on: state, ppid, then 17 more up to starttime (field 22).
        const rest = ["S", o.ppid ?? 1, ...Array(17).fill(0), 100, 0].join(" ");
        writeFileSync(join(dir, "stat"), `${pid} (${o.comm}) ${rest}\n`);
      }
      for (const [i, ino] of (o.sockets ?? []).entries()) {
        symlinkSync(`socket:[${ino}]`, join(dir, "fd", String(i + 3)));
      }
      writeFileSync(join(dir, "schedstat"), `${o.cpu ?? 1000} 0 1\n`);
      return api;
    },
    cpu(pid: number, ns: number) {
      writeFileSync(join(root, String(pid), "schedstat"), `${ns} 0 1\n`);
      return api;
    },
    gone(pid: number) {
      rmSync(join(root, String(pid)), { recursive: true, force: true });
      return api;
    },
  };
  return api;
}
