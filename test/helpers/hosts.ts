import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

/**
 * A "host" for a test: its own network, UTS and mount namespaces, held by a sleeping process, with its
 * own hostname, its own /etc/machine-id (a file bound over it in its mount namespace) and its loopback
 * up. The file system is otherwise the test machine's (users, keys, PAM). `exec` prefixes a command to
 * run it there, in the test's working directory. Stopping kills every process in its network namespace: the namespaces, the bind mount
 * and the links in it go with the last one.
 */
export interface TestHost {
  name: string;
  machineId: string;
  pid: number;
  exec: string[];
  stop(): void;
}

export async function startHost(name: string, dir: string): Promise<TestHost> {
  const machineId = execFileSync("sh", ["-c", "cat /proc/sys/kernel/random/uuid | tr -d -"])
    .toString()
    .trim();
  const idFile = join(dir, `${name}.machine-id`);
  writeFileSync(idFile, `${machineId}\n`);
  const holder: ChildProcess = spawn(
    "unshare",
    [
      "--net",
      "--uts",
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      `hostname ${name} && mount --bind ${idFile} /etc/machine-id && ip link set lo up && echo ready && exec sleep 100000`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  holder.stdout?.on("data", (d) => {
    out += d;
  });
  holder.stderr?.on("data", (d) => {
    out += d;
  });
  await waitFor(
    `host ${name} ready (${out})`,
    () => out.includes("ready") || holder.exitCode !== null,
    10_000,
  );
  if (holder.exitCode !== null) throw new Error(`host ${name} did not start: ${out}`);
  const pid = holder.pid as number;
  // Entering a mount namespace moves to its root: the test's own directory is kept.
  const exec = ["nsenter", "-t", String(pid), "-n", "-u", "-m", `--wd=${process.cwd()}`, "--"];
  return {
    name,
    machineId,
    pid,
    exec,
    stop() {
      // Everything left in its network namespace (sshd's sessions, daemons), then the holder.
      const inside = execFileSync("sh", [
        "-c",
        `for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net)" = "$(readlink /proc/${pid}/ns/net)" ] && echo \${p#/proc/}; done; true`,
      ])
        .toString()
        .split("\n")
        .filter(Boolean)
        .map(Number);
      for (const p of inside) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // gone already
        }
      }
    },
  };
}

let links = 0;

/** A veth pair between two hosts, `a` getting `ipA`/24 and `b` getting `ipB`/24, both up. */
export function link(a: TestHost, ipA: string, b: TestHost, ipB: string): void {
  // Named uniquely while both ends are still in the test's own namespace (made there, then moved).
  const n = `${process.pid % 100000}x${links++}`;
  const [ia, ib] = [`sla${n}`, `slb${n}`];
  execFileSync("ip", ["link", "add", ia as string, "type", "veth", "peer", "name", ib as string]);
  execFileSync("ip", ["link", "set", ia as string, "netns", String(a.pid)]);
  execFileSync("ip", ["link", "set", ib as string, "netns", String(b.pid)]);
  for (const [h, dev, ip] of [
    [a, ia, ipA],
    [b, ib, ipB],
  ] as const) {
    execFileSync(h.exec[0] as string, [
      ...h.exec.slice(1),
      "ip",
      "addr",
      "add",
      `${ip}/24`,
      "dev",
      dev as string,
    ]);
    execFileSync(h.exec[0] as string, [...h.exec.slice(1), "ip", "link", "set", dev as string, "up"]);
  }
}
