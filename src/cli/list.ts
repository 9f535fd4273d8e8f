import { Command } from "@commander-js/extra-typings";
import { clock } from "../clock.ts";
import { resolveConfig } from "../config.ts";
import { stderrDiagnostics } from "../diagnostics.ts";
import { Enricher } from "../enrich/enricher.ts";
import { toEcs } from "../format/ecs.ts";
import { hostIdentity } from "../host.ts";
import { tableWriter } from "../report/output.ts";
import { recordOf } from "../report/records.ts";
import { muxSessionOf, sessionOf } from "../report/sessions.ts";
import { MuxWatch } from "../sources/mux.ts";
import { ProcfsScanner } from "../sources/procfs/scanner.ts";
import { type SessionEvent, SessionTracker } from "../track/sessions.ts";
import { type ConnectionEvent, Tracker } from "../track/tracker.ts";
import { NAME } from "../version.ts";
import { stdoutLines } from "./stdout-lines.ts";

export function listCommand(): Command {
  return new Command("list")
    .description(
      "show the outbound SSH connections open right now, and the sessions riding a control master's, with process, user, target and ancestry",
    )
    .option("--ports <list>", "remote TCP ports that count as SSH (env SSH_OUTBOUND_PORTS; default 22)")
    .option(
      "--clients <list>",
      "process names whose connections count as SSH on any port (env SSH_OUTBOUND_CLIENTS)",
    )
    .option("--json", "one ECS record per connection, as `run` writes them")
    .addHelpText(
      "after",
      `
The same detection and enrichment as \`run\`, once, from /proc. START is when the connection was first
seen by this command, so for list it shows the client process's start instead. Run as root (or with
CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) to see every user's connections.

Examples:
  ${NAME} list
  ${NAME} list --ports 22,2222
  ${NAME} list --json | jq -r '.ssh_outbound.target.host'`,
    )
    .action(async (flags) => {
      const config = resolveConfig({ ports: flags.ports, clients: flags.clients });
      const diag = stderrDiagnostics();
      const scanner = new ProcfsScanner({ ports: config.ports, clients: config.clients, diag });
      const found: (ConnectionEvent | SessionEvent)[] = [];
      const tracker = new Tracker(
        () => "procfs",
        (ev) => found.push(ev),
      );
      const now = clock.nowNs();
      tracker.observe({ type: "snapshot", timeNs: now, sockets: scanner.scan(), initial: true });
      // Sessions riding a control master's connection: found as `run` finds them, listed as open.
      const sessions = new SessionTracker(
        () => "procfs",
        (ev) => found.push(ev),
        (s) => tracker.idOfSocket(s),
      );
      const mux = new MuxWatch(new Set(config.clients));
      for (const obs of mux.tick(scanner.ownClients, () => scanner.tcpOwners(), scanner.held, now))
        sessions.observe(obs);
      sessions.stop(now);
      const enricher = new Enricher();
      const host = hostIdentity();
      const out = stdoutLines();
      const table = tableWriter(out.write);
      if (!flags.json) table.header();
      for (const ev of found) {
        const enriched = "session" in ev ? enricher.enrichSession(ev) : enricher.enrich(ev);
        if (!enriched) continue; // still connecting
        const ecs = toEcs(enriched, { hostname: host.hostname, hostId: host.id });
        if (flags.json) {
          out.write(JSON.stringify(ecs));
          continue;
        }
        const r = recordOf(ecs);
        if (typeof r === "string" || r.kind === "monitor" || r.kind === "suppressed") continue;
        if (r.kind === "mux") {
          table.row({ ...muxSessionOf(r), status: "open" });
          continue;
        }
        const s = sessionOf(r);
        table.row({ ...s, status: "open", start: r.processStart ?? s.start });
      }
      await out.drain();
    });
}
