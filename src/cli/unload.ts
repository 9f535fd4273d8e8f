import { Command } from "@commander-js/extra-typings";
import { resolveConfig } from "../config.ts";
import { waitingWords } from "../doctor/checks.ts";
import { InvalidOptionError } from "../errors.ts";
import { pinnedProbe, unloadProbe } from "../sources/ebpf/probe.ts";
import { NAME } from "../version.ts";
import { writeOut } from "./out.ts";

/**
 * `unload`: takes away the eBPF probe the daemon leaves pinned between runs. A running daemon keeps its
 * own programs until it exits; afterwards nothing of ours stays in the kernel. The package's removal
 * runs it.
 */
export function unloadCommand(): Command {
  return new Command("unload")
    .description(
      "remove the eBPF probe the daemon keeps pinned in the kernel between runs (what waits in it is discarded)",
    )
    .option(
      "--pin <dir>",
      "where it is pinned (env SSH_OUTBOUND_PIN; default /sys/fs/bpf/ssh-outbound-logger)",
    )
    .addHelpText(
      "after",
      `
A daemon still running keeps its programs attached until it exits; stop it first (systemctl stop
${NAME}) for nothing of ours to stay in the kernel. Removing the package does both.

Examples:
  systemctl stop ${NAME} && ${NAME} unload
  ${NAME} unload --pin /sys/fs/bpf/ssh-outbound-logger`,
    )
    .action((flags) => {
      const config = resolveConfig({ pin: flags.pin });
      if (config.pin === undefined) {
        throw new InvalidOptionError(
          flags.pin ? "--pin" : "SSH_OUTBOUND_PIN",
          "none",
          "the directory where the probe is pinned",
        );
      }
      const before = pinnedProbe(config.pin);
      const done = unloadProbe(config.pin);
      if (done.removed === 0) {
        writeOut(`nothing pinned in ${config.pin}\n`);
        return;
      }
      writeOut(
        `unloaded the probe pinned in ${config.pin}${before ? ` since ${new Date(Number(before.pinnedAtNs / 1_000_000n)).toISOString()}` : ""}: ${done.removed} pins removed; ${waitingWords(done.waitingBytes).replace("waiting in", "discarded from")}\n`,
      );
    });
}
