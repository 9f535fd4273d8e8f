/**
 * Typed errors with a stable `code` and the exit code the CLI should use, the original error kept as
 * `cause` (the habit of commander's CommanderError and execa's final error).
 */
export class LoggerError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LoggerError";
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** An option or environment variable that does not hold a usable value: exit code 2. */
export class InvalidOptionError extends LoggerError {
  readonly option: string;
  readonly value: string;

  constructor(option: string, value: string, expected: string, cause?: unknown) {
    super("ERR_INVALID_OPTION", `invalid ${option} ${JSON.stringify(value)}: expected ${expected}`, {
      exitCode: 2,
      cause,
    });
    this.name = "InvalidOptionError";
    this.option = option;
    this.value = value;
  }
}

/** A path given in an option that cannot be used (exit code 2), with the errno that said so. */
export function badPathError(option: string, path: string, what: string, cause: unknown): LoggerError {
  const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
  return new LoggerError(
    "ERR_INVALID_OPTION",
    `invalid ${option} ${JSON.stringify(path)}: ${what} (${code})`,
    {
      exitCode: 2,
      cause,
    },
  );
}

/** Errors from reading /proc that mean "the thing is gone or not ours to see": the normal case. */
const VANISHED = new Set(["ENOENT", "ESRCH", "EACCES", "EPERM", "ENOTDIR", "EINVAL"]);

export function isVanished(error: unknown): boolean {
  return error instanceof Error && VANISHED.has((error as NodeJS.ErrnoException).code ?? "");
}
