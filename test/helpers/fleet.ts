import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "./daemon.ts";
import { shippedWith } from "./shipped.ts";

/** Whether rsyslog's RELP output module (Debian's rsyslog-relp) is installed. */
export function hasRelp(): boolean {
  for (const dir of ["/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib64/rsyslog", "/usr/lib/rsyslog"]) {
    try {
      if (readdirSync(dir).includes("omrelp.so")) return true;
    } catch {
      // not this layout
    }
  }
  return false;
}

/**
 * The shipped rsyslog configs as a fleet test or the soak runs them: each included by a main config of
 * its own (as Debian's /etc/rsyslog.conf includes /etc/rsyslog.d), on a loopback port, with the paths
 * of a scratch directory.
 */
export interface FleetConfigs {
  collector: string;
  sender: string;
}

/**
 * The collector writing into `inbox`, and one sender carrying the trails of `hosts` (each directory
 * holding a host's log.log and resend.log): the shipped inputs once per host. The snippets are written
 * to ROOT/60-collector.conf and ROOT/60-sender.conf (a test may make a variant of the latter).
 */
export function fleetConfigs(
  root: string,
  inbox: string,
  port: number,
  hosts: readonly string[],
  write: (path: string, text: string) => void,
): FleetConfigs {
  const snippet = (name: string, text: string) => {
    const path = join(root, `60-${name}.conf`);
    write(path, text);
    return `include(file="${path}")`;
  };
  const collector = [
    `global(workDirectory="${join(root, "collector-work")}")`,
    snippet(
      "collector",
      shippedWith("rsyslog/collector.conf", [
        ["/srv/ssh-audit", inbox],
        ['port="2514"', `port="${port}" address="127.0.0.1"`],
      ]),
    ),
  ].join("\n");
  const shipped = shippedWith("rsyslog/sender.conf", [
    ['target="collector.example.invalid"', 'target="127.0.0.1"'],
    ['port="2514"', `port="${port}"`],
  ]);
  const inputs = shipped.split("\n").filter((l) => l.startsWith('input(type="imfile"'));
  assert.equal(inputs.length, 2, "the shipped sender reads the log and the resend spool");
  let text = shipped;
  for (const line of inputs) {
    const perHost = hosts.map((dir) =>
      line
        .replace("/var/log/ssh-outbound-logger/log.log", join(dir, "log.log"))
        .replace("/var/spool/ssh-outbound-logger/resend.log", join(dir, "resend.log")),
    );
    text = text.replace(line, perHost.join("\n"));
  }
  const sender = [
    // Debian's main config loads its inputs before /etc/rsyslog.d, and sets the work directory.
    'module(load="imuxsock" SysSock.Use="off")',
    `global(workDirectory="${join(root, "sender-work")}")`,
    snippet("sender", text),
  ].join("\n");
  return { collector, sender };
}

/** The lines at the collector, by the directory it wrote them to (one per host: NAME-MACHINEID). */
export function collected(inbox: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let names: string[];
  try {
    names = readdirSync(inbox);
  } catch {
    return out;
  }
  for (const sub of names) {
    const path = join(inbox, sub);
    const files = statSync(path).isDirectory() ? readdirSync(path).map((f) => join(path, f)) : [path];
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      const end = text.lastIndexOf("\n");
      out.set(sub, [...(out.get(sub) ?? []), ...(end < 0 ? [] : text.slice(0, end).split("\n"))]);
    }
  }
  return out;
}

/**
 * The collector's report over its files, and each hole it names closed as it says: `resend` run for
 * the host that wrote the records, over that host's own files (the directory `dirOf` gives for its
 * name), into its spool. The resend commands it ran, with their output.
 */
export function closeHoles(inbox: string, dirOf: (host: string) => string | undefined): string[] {
  const r = runCli(["report", "--json", inbox]);
  assert.equal(r.code, 0, r.stderr);
  const done: string[] = [];
  for (const m of r.stderr.matchAll(
    /to send them again, on (\S+) \([0-9a-f]{8}\): \S+ resend --run (\S+) --seq (\S+)/g,
  )) {
    const dir = dirOf(m[1] as string);
    assert.ok(dir, `a host of the fleet: ${m[1]}`);
    const args = [
      "resend",
      "--run",
      m[2] as string,
      "--seq",
      m[3] as string,
      "--spool",
      join(dir, "resend.log"),
      dir,
    ];
    const out = runCli(args);
    assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
    done.push(`${m[1]}: ${out.stdout.trim()}`);
  }
  return done;
}
