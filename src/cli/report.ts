import { availableParallelism } from "node:os";
import { Command } from "@commander-js/extra-typings";
import { InvalidOptionError } from "../errors.ts";
import type { GroupBy } from "../report/by.ts";
import { parseTime } from "../report/filters.ts";
import { report } from "../report/report.ts";
import { NAME } from "../version.ts";
import { stdoutLines } from "./stdout-lines.ts";

const BY = ["user", "target", "process", "host", "server-banner"] as const;
/** More threads than this read no faster: joining the paths, in one thread, is the rest of the cost. */
const DEFAULT_THREADS_MAX = 4;
const THREADS_MAX = 64;

const defaultThreads = (): number => Math.max(1, Math.min(availableParallelism(), DEFAULT_THREADS_MAX));

function parseThreads(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > THREADS_MAX)
    throw new InvalidOptionError("--threads", v, `an integer from 1 to ${THREADS_MAX}`);
  return n;
}

export function reportCommand(): Command<[string[]]> {
  return new Command("report")
    .description("join the log's records into sessions: who connected where, from what, when, for how long")
    .argument(
      "[files...]",
      "log files, .gz too, or directories read whole (a collector's); default: the configured log file and its rotated files, oldest first",
    )
    .option("--since <time>", "sessions going on since this ISO time or this long ago (30m, 24h, 7d)")
    .option("--until <time>", "sessions started until this ISO time or this long ago")
    .option("--user <name>", "sessions of this local user")
    .option(
      "--target <host>",
      "to this typed host, user@host[:port], destination ip or ip:port ([ipv6]:port)",
    )
    .option("--process <name>", "made by this process name (ssh, scp, sftp, …)")
    .option("--failed", "only failed connection attempts")
    .option(
      "--host <name>",
      "sessions of this host, by name or machine id (repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--forwards", "only sessions that opened tunnels (-L, -R, -D, -W), with the forwards listed")
    .option(
      "--by <field>",
      "counts per user, target, process, host or server-banner (the server's SSH software, as it said it): sessions, failed, first and last seen, bytes",
    )
    .option(
      "--paths",
      "join many hosts' trails (a collector's directory, or several files) into paths: who went from which host through which to which, one line each",
    )
    .option(
      "--threads <n>",
      `threads that read the files for --paths (default: the machine's cores, at most ${DEFAULT_THREADS_MAX})`,
    )
    .option("--json", "one JSON object per session (and per monitoring gap)")
    .option("--csv", "CSV with a header row (gaps on stderr)")
    .addHelpText(
      "after",
      `
Sessions are printed as they end; the ones with no end in the files come last, as "open" (the daemon
was still watching) or "unknown" (it stopped first). Lines starting "----" are times when nobody watched.

Examples:
  ${NAME} report                                   the configured log and its rotated files
  ${NAME} report --since 24h --user alice
  ${NAME} report --target db1.example.com --json | jq .durationMs
  ${NAME} report --failed --since 7d
  ${NAME} report --forwards --since 24h
  ${NAME} report /srv/ssh-audit/ --by host           a collector's files, every host
  ${NAME} report /srv/ssh-audit/ --paths --user alice  alice's paths through the fleet
  ${NAME} report --by target --since 30d
  ${NAME} report /var/log/ssh-outbound-logger/log.log-2026*.gz --csv > sessions.csv`,
    )
    .action(async (files, flags) => {
      if (flags.json && flags.csv)
        throw new InvalidOptionError("--csv", "true", "one of --json or --csv, not both");
      if (flags.paths && flags.csv)
        throw new InvalidOptionError("--csv", "true", "--paths prints a table or --json");
      if (flags.paths && flags.by !== undefined)
        throw new InvalidOptionError(
          "--by",
          flags.by,
          "no --by with --paths (a path has no one user or target)",
        );
      if (flags.by !== undefined && !(BY as readonly string[]).includes(flags.by)) {
        throw new InvalidOptionError("--by", flags.by, BY.join(", "));
      }
      if (flags.threads !== undefined && !flags.paths)
        throw new InvalidOptionError("--threads", flags.threads, "--threads goes with --paths");
      const threads = flags.threads === undefined ? defaultThreads() : parseThreads(flags.threads);
      const out = stdoutLines();
      const summary = await report(
        {
          files,
          filters: {
            since: flags.since === undefined ? undefined : parseTime("--since", flags.since),
            until: flags.until === undefined ? undefined : parseTime("--until", flags.until),
            user: flags.user,
            target: flags.target,
            process: flags.process,
            failed: flags.failed,
            forwards: flags.forwards,
            hosts: flags.host,
          },
          format: flags.json ? "json" : flags.csv ? "csv" : "table",
          by: flags.by as GroupBy | undefined,
          paths: flags.paths === true,
          threads,
        },
        { ...out, warn: (m) => process.stderr.write(`${NAME}: ${m}\n`) },
      );
      if (summary.unreadable > 0) process.exitCode = 1;
    });
}
