import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * "ref-load": the host the lsof loop struggled on. `procs` idle processes each holding `files` open
 * files (every /proc/PID/fd scan and every lsof call walks them), and `conns` idle established
 * loopback TCP connections (2 × conns sockets in the kernel's tables, none of them SSH).
 */
export interface RefLoad {
  procs: number;
  files: number;
  conns: number;
  stop(): void;
}

export async function startRefLoad(procs: number, files: number, conns: number): Promise<RefLoad> {
  const redirections = Array.from({ length: files }, (_, i) => `${i + 10}</etc/passwd`).join(" ");
  const children: ChildProcess[] = [];
  for (let i = 0; i < procs; i++) {
    // bash opens the files, then becomes `sleep`, which inherits them.
    const c = spawn("bash", ["-c", `exec ${redirections}; exec sleep 86400`], { stdio: "ignore" });
    children.push(c);
  }
  const holder = await holdConnections(conns);
  children.push(holder.child);
  await waitForFds(children.slice(0, procs), files);
  return {
    procs,
    files,
    conns,
    stop() {
      for (const c of children) c.kill("SIGKILL");
    },
  };
}

/**
 * `n` idle established loopback connections, held by a process of their own (it needs 2 × n
 * descriptors; Node raises its soft limit to the hard one, so the hard limit must allow it), to a
 * server on `port`.
 */
export async function holdConnections(
  n: number,
): Promise<{ child: ChildProcess; port: number; stop(): void }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("hold-connections.ts", import.meta.url)), String(n)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /ready \d+ (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) =>
      reject(new Error(`the connection holder exited (${code}); raise the hard RLIMIT_NOFILE`)),
    );
  });
  return { child, port, stop: () => child.kill("SIGKILL") };
}

/** Until every idle process has exec'd sleep with its files open. */
async function waitForFds(children: ChildProcess[], files: number): Promise<void> {
  const { readdirSync, readFileSync } = await import("node:fs");
  const deadline = Date.now() + 60_000;
  for (const c of children) {
    for (;;) {
      try {
        const comm = readFileSync(`/proc/${c.pid}/comm`, "utf8").trim();
        if (comm === "sleep" && readdirSync(`/proc/${c.pid}/fd`).length >= files) break;
      } catch {
        // not yet there
      }
      if (Date.now() > deadline) throw new Error(`idle process ${c.pid} did not get ready`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
