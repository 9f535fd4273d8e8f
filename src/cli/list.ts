import { Command } from "@commander-js/extra-typings";
import { clock } from "../clock.ts";
import { floodPolicy, resolveConfig } from "../config.ts";
import { stderrDiagnostics } from "../diagnostics.ts";
import { InvalidOptionError } from "../errors.ts";
import { formatJson } from "../format/json.ts";
import { isMonitorEvent, isSuppressed } from "../format/record.ts";
import { hostIdentity } from "../host.ts";
import { Pipeline } from "../pipeline.ts";
import { liveRow } from "../report/live.ts";
import { tableWriter } from "../report/output.ts";
import { report } from "../report/report.ts";
import { emptySinkStats } from "../sinks/sink.ts";
import { MuxWatch } from "../sources/mux.ts";
import { ProcfsScanner } from "../sources/procfs/scanner.ts";
import { NAME } from "../version.ts";
import { stdoutLines } from "./stdout-lines.ts";

/** `list --host`/`list FILES`: what the trails say is open, through report's reading. */
async function fromTrails(
  files: string[],
  flags: { host: string[]; json?: true; ports?: string; clients?: string },
): Promise<void> {
  for (const [option, value] of [
    ["--ports", flags.ports],
    ["--clients", flags.clients],
  ] as const)
    if (value !== undefined)
      throw new InvalidOptionError(
        option,
        value,
        `${option} is for this host's /proc, not with --host or FILES`,
      );
  const out = stdoutLines();
  const summary = await report(
    { files, filters: { hosts: flags.host, open: true }, format: flags.json ? "json" : "table" },
    { ...out, warn: (m) => process.stderr.write(`${NAME}: ${m}\n`) },
  );
  if (summary.unreadable > 0) process.exitCode = 1;
}

export function listCommand(): Command<[string[]]> {
  return new Command("list")
    .description(
      "show the outbound SSH connections open right now, and the sessions riding a control master's, with process, user, target and ancestry",
    )
    .option("--ports <list>", "remote TCP ports that count as SSH (env SSH_OUTBOUND_PORTS; default 22)")
    .option(
      "--clients <list>",
      "process names whose connections count as SSH on any port (env SSH_OUTBOUND_CLIENTS)",
    )
    .argument(
      "[files...]",
      "read the open connections from these trails instead (a collector's directory, .gz too); default with --host: the configured log",
    )
    .option(
      "--host <name>",
      "the connections open on this host, from the trails (by name or machine id; repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--json", "one ECS record per connection, as `run` writes them")
    .addHelpText(
      "after",
      `
The same detection and enrichment as \`run\`, once, from /proc. START is when the connection was first
seen by this command, so for list it shows the client process's start instead. Run as root (or with
CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) to see every user's connections.

With FILES or --host, the connections are read from trails instead (a collector's, for instance): each
one opened and not ended in the files, of the hosts asked for, as \`report\` shows them ("open" while
the host's daemon was watching, "unknown" when it stopped first); --json gives report's JSON.

Examples:
  ${NAME} list
  ${NAME} list --ports 22,2222
  ${NAME} list --host db1 /srv/ssh-audit/           open on db1, as the collector last heard
  ${NAME} list --json | jq -r '.ssh_outbound.target.host'`,
    )
    .action(async (files, flags) => {
      if (files.length > 0 || flags.host.length > 0) return fromTrails(files, flags);
      const config = resolveConfig({ ports: flags.ports, clients: flags.clients });
      const diag = stderrDiagnostics();
      const host = hostIdentity();
      const ctx = { hostname: host.hostname, hostId: host.id };
      const out = stdoutLines();
      const table = tableWriter(out.write);
      if (!flags.json) table.header();
      // One run of the same pipeline as `run`, from one procfs picture: the connections open now (each
      // enriched as `run` enriches it), and the sessions riding a control master's connection, listed as
      // open (ended here, at the end of the picture). No flood gate: every connection is listed.
      const pipeline = new Pipeline({
        format: (r) => {
          if (flags.json) return formatJson(r, ctx);
          if (isMonitorEvent(r) || isSuppressed(r)) return "";
          return `${table.line(liveRow(r, { hostname: host.hostname, id: host.id }))}\n`;
        },
        sink: { write: (line) => void (line && out.write(line.slice(0, -1))), ...LINES_SINK },
        diag,
        sourceName: () => "procfs",
        flood: floodPolicy(0),
      });
      pipeline.open();
      const scanner = new ProcfsScanner({ ports: config.ports, clients: config.clients, diag });
      const now = clock.nowNs();
      pipeline.observe({ type: "snapshot", timeNs: now, sockets: scanner.scan(), initial: true });
      const mux = new MuxWatch(new Set(config.clients));
      for (const obs of mux.tick(scanner.ownClients, () => scanner.tcpOwners(), scanner.held, now))
        pipeline.observe(obs);
      pipeline.stopSessions(now);
      await out.drain();
    });
}

/** What the pipeline needs of a sink besides write: `list` writes to stdout once and ends. */
const LINES_SINK = {
  reopen: () => undefined,
  end: async () => 0,
  stats: emptySinkStats(),
};
