import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Rsyslogd {
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then the exit code once it has exited (rsyslogd saves its queues first). */
  stop(): Promise<number | null>;
}

/**
 * A real rsyslogd in the foreground with a main config of the test's own (written to DIR/NAME.conf,
 * checked with `rsyslogd -N1` first) and its own pid file, so that it runs beside the host's.
 */
export function startRsyslogd(dir: string, name: string, config: string): Rsyslogd {
  const conf = join(dir, `${name}.conf`);
  writeFileSync(conf, config);
  const check = spawnSync("rsyslogd", ["-N1", "-f", conf], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`rsyslogd -N1 -f ${conf}: ${check.stderr}`);
  const child = spawn("rsyslogd", ["-n", "-f", conf, "-i", join(dir, `${name}.pid`)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
