import { writeSync } from "node:fs";

/**
 * A command's own output (help, doctor's checks, unload's and resend's one line), written to
 * descriptor 1 directly. `doctor | head -1` ends quietly (exit 0) when the reader has gone, as `ls |
 * head` does, instead of a stack trace from an EPIPE on process.stdout; and `run` never touches
 * process.stdout, which would make a pipe non-blocking (see cli/run.ts).
 */
export function writeOut(text: string): void {
  try {
    writeSync(1, text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EPIPE") process.exit(0);
    // A pipe someone made non-blocking, full: Node's stream waits for it.
    if (code === "EAGAIN") process.stdout.write(text);
    else throw error;
  }
}
