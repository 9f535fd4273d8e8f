import { Command, CommanderError } from "@commander-js/extra-typings";
import { doctorCommand } from "./cli/doctor.ts";
import { listCommand } from "./cli/list.ts";
import { writeOut } from "./cli/out.ts";
import { reportCommand } from "./cli/report.ts";
import { resendCommand } from "./cli/resend.ts";
import { runCommand } from "./cli/run.ts";
import { unloadCommand } from "./cli/unload.ts";
import { LoggerError } from "./errors.ts";
import { NAME, VERSION } from "./version.ts";

export function buildProgram(): Command {
  const program = new Command(NAME)
    .description("Audit log of every outbound SSH connection this host makes")
    .version(VERSION)
    .showHelpAfterError()
    .configureOutput({ writeOut })
    .exitOverride();
  for (const command of [
    runCommand(),
    listCommand(),
    reportCommand(),
    resendCommand(),
    doctorCommand(),
    unloadCommand(),
  ]) {
    program.addCommand(command.configureOutput({ writeOut }).exitOverride());
  }
  return program;
}

/** Runs the CLI and maps every failure to an exit code: 2 for usage and options, 1 for the rest. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and --version end here too, with exit code 0
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof LoggerError) {
      process.stderr.write(`${NAME}: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`${NAME}: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
