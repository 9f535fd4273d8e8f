import { spawn } from "node:child_process";

export interface SshRun {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a real client (ssh by default) to completion; resolves with its pid and exit status.
 * `onSpawn` gets the pid at once (to watch for the session while it runs).
 */
export function runClient(
  args: string[],
  opts: { prefix?: string[]; argv0?: string; onSpawn?: (pid: number) => void } = {},
): Promise<SshRun> {
  const [cmd, ...rest] = [...(opts.prefix ?? []), "ssh", ...args] as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ pid: child.pid as number, code, stdout, stderr }));
  });
}
