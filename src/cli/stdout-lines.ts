/**
 * Lines to stdout in 64 KiB writes, waiting for the pipe when it is full: a report of a million
 * sessions piped into `less` must not pile up in memory.
 */
export function stdoutLines(stream: NodeJS.WritableStream = process.stdout): {
  write(line: string): void;
  drain(): Promise<void>;
} {
  let pending = "";
  let blocked: Promise<void> | undefined;
  // `report | head`: the reader has gone, which ends the report as SIGPIPE ends other tools.
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  const flush = (): void => {
    if (pending === "") return;
    const ok = stream.write(pending);
    pending = "";
    if (!ok && !blocked) blocked = new Promise<void>((r) => stream.once("drain", () => r()));
  };
  return {
    write(line) {
      pending += `${line}\n`;
      if (pending.length >= 65536) flush();
    },
    async drain() {
      flush();
      if (blocked) {
        await blocked;
        blocked = undefined;
      }
    },
  };
}
