import { Command } from "@commander-js/extra-typings";
import { InvalidOptionError } from "../errors.ts";
import { configuredLog, expandDirectories, logFamily, orderLogFiles } from "../report/files.ts";
import { parseRanges, resend } from "../report/resend.ts";
import { NAME } from "../version.ts";
import { writeOut } from "./out.ts";

/** Where the shipped rsyslog sender also reads (deploy/rsyslog/sender.conf's second input). */
export const RESEND_SPOOL = "/var/spool/ssh-outbound-logger/resend.log";

/**
 * `resend`: on the host that wrote them, the records a collector's `report` says are missing (a hole
 * in a run's numbers), found in the host's own files and handed to the shipper again, byte for byte.
 */
export function resendCommand(): Command<[string[]]> {
  return new Command("resend")
    .description(
      "send again the records a collector is missing: found by run and number in this host's files (rotated and .gz too), appended as written to the file the shipper reads",
    )
    .argument("[files...]", "where to look; default: the configured log file and its rotated files")
    .requiredOption("--run <id>", "the daemon run (agent.ephemeral_id, or its first 8 or more characters)")
    .requiredOption("--seq <list>", "the record numbers (event.sequence): 22-23,40")
    .option(
      "--spool <file>",
      `the file the shipper reads records to send again from (env SSH_OUTBOUND_RESEND_SPOOL; default ${RESEND_SPOOL})`,
    )
    .addHelpText(
      "after",
      `
A collector's report names each hole and the command that closes it, e.g.
  to send them again, on web1 (3d1219c7): ${NAME} resend --run 01a21919-… --seq 22-23
A range the files hold only in part is refused and named (exit 1): nothing is sent of it.

Examples:
  ${NAME} resend --run 01a21919-96c7-7d3e-8b22-4e0d6a0b2f11 --seq 52-101
  ${NAME} resend --run 01a21919 --seq 7,12-14 /var/log/${NAME}/log.log-2026*.gz`,
    )
    .action(async (files, flags) => {
      if (!/^[0-9a-f-]{8,36}$/.test(flags.run)) {
        throw new InvalidOptionError(
          "--run",
          flags.run,
          "a run id (a UUID) or its first 8 or more characters",
        );
      }
      const ranges = parseRanges("--seq", flags.seq);
      const spool = flags.spool ?? process.env.SSH_OUTBOUND_RESEND_SPOOL ?? RESEND_SPOOL;
      const list = files.length > 0 ? orderLogFiles(expandDirectories(files)) : logFamily(configuredLog());
      const warn = (m: string) => process.stderr.write(`${NAME}: ${m}\n`);
      const r = await resend(list, flags.run, ranges, spool, warn);
      const show = ([a, b]: [number, number]) => (a === b ? `${a}` : `${a}-${b}`);
      if (r.ambiguous.length > 0) {
        warn(
          `--run ${flags.run} matches ${r.ambiguous.length} runs (${r.ambiguous.join(", ")}): give more of it`,
        );
        process.exitCode = 1;
        return;
      }
      if (r.run === undefined) {
        warn(`no record of run ${flags.run} in ${list.join(", ") || "no files"}: nothing sent`);
        process.exitCode = 1;
        return;
      }
      if (r.sent > 0) {
        writeOut(
          `sent again ${r.sent} record(s) of run ${r.run} (${r.shipped.map(show).join(",")}) through ${spool}\n`,
        );
      }
      for (const x of r.refused) {
        const few =
          x.missing.slice(0, 10).join(",") + (x.missing.length > 10 ? `,… (${x.missing.length})` : "");
        warn(`refused ${show(x.range)}: these files do not have record(s) ${few} of run ${r.run}`);
        process.exitCode = 1;
      }
    });
}
