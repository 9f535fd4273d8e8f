import { Command } from "@commander-js/extra-typings";
import { resolveConfig } from "../config.ts";
import {
  type Check,
  configuredSource,
  ebpfSource,
  logPath,
  logrotateConfig,
  PLACES,
  pinnedProbeCheck,
  privileges,
  procfsSource,
  procMount,
  protocolCheck,
  unitInstalled,
} from "../doctor/checks.ts";
import { escapeText } from "../format/escape.ts";
import { NAME } from "../version.ts";
import { writeOut } from "./out.ts";

const MARK = { ok: "[ ok ]", warn: "[warn]", fail: "[FAIL]" } as const;

export function doctorCommand(): Command {
  return new Command("doctor")
    .description("check what the daemon can see and do on this host, and say how to fix what it cannot")
    .option(
      "-s, --source <source>",
      "the source to judge: auto, ebpf or procfs (env SSH_OUTBOUND_SOURCE; default auto)",
    )
    .option("-o, --output <file>", "the log file to check (env SSH_OUTBOUND_OUTPUT; default the service's)")
    .option(
      "--pin <dir>",
      "where the eBPF probe is pinned between runs, or none (env SSH_OUTBOUND_PIN; default /sys/fs/bpf/ssh-outbound-logger)",
    )
    .option(
      "--protocol <on|packets|off>",
      "whether and through which hooks SSH is to be recognised by its protocol (env SSH_OUTBOUND_PROTOCOL; default on)",
    )
    .option("--json", "the checks as one JSON array")
    .addHelpText(
      "after",
      `
Exit code 1 when the configured source cannot run here, else 0 (warnings included).

Examples:
  ${NAME} doctor
  SSH_OUTBOUND_SOURCE=ebpf ${NAME} doctor || echo "eBPF cannot run here"`,
    )
    .action((flags) => {
      const config = resolveConfig({
        source: flags.source,
        output: flags.output,
        pin: flags.pin,
        protocol: flags.protocol,
      });
      const procfs = procfsSource();
      const ebpf = ebpfSource(config.protocol);
      const source = configuredSource(config, procfs, ebpf);
      const checks: Check[] = [
        privileges(),
        procMount(PLACES),
        procfs,
        ebpf,
        protocolCheck(config, ebpf),
        pinnedProbeCheck(config),
        source,
        logPath(config),
        unitInstalled(PLACES),
        logrotateConfig(config, PLACES),
      ];
      if (flags.json) writeOut(`${JSON.stringify(checks)}\n`);
      else {
        for (const c of checks) {
          writeOut(`${MARK[c.level]} ${c.title}: ${escapeText(c.detail)}\n`);
          if (c.fix && c.level !== "ok") writeOut(`       fix: ${c.fix}\n`);
        }
      }
      if (source.level === "fail") process.exitCode = 1;
    });
}
