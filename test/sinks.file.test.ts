import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { LoggerError } from "../src/errors.ts";
import { fileSink } from "../src/sinks/sink.ts";
import { scratchDir } from "./helpers/scratch.ts";

const quiet = () => {
  const said: string[] = [];
  return { said, warn: (m: string) => said.push(m) };
};

test("creates the directory 0750 and a 0640 file, appends, and each line is on disk when write returns", async () => {
  const dir = scratchDir("sol-sink-");
  const path = join(dir, "sub", "log.log");
  const sink = fileSink(path, quiet());
  assert.equal(statSync(path).mode & 0o777, 0o640);
  assert.equal(statSync(join(dir, "sub")).mode & 0o777, 0o750);
  sink.write("one\n");
  assert.equal(readFileSync(path, "utf8"), "one\n", "synchronous: visible before end()");
  assert.equal(await sink.end(), 0, "nothing held at the end");
  const again = fileSink(path, quiet());
  again.write("two\n");
  await again.end();
  assert.equal(readFileSync(path, "utf8"), "one\ntwo\n");
});

test("reopen() after the file was moved away writes to a new file at the path", async () => {
  const dir = scratchDir("sol-sink-");
  const path = join(dir, "log.log");
  const sink = fileSink(path, quiet());
  sink.write("before\n");
  renameSync(path, `${path}.1`);
  sink.reopen();
  sink.write("after\n");
  await sink.end();
  assert.equal(readFileSync(`${path}.1`, "utf8"), "before\n");
  assert.equal(readFileSync(path, "utf8"), "after\n");
  assert.equal(sink.stats.reopens, 1);
});

test("a file removed with rm, or its whole directory, is recreated at the next write without SIGHUP", async () => {
  const dir = scratchDir("sol-sink-");
  const logDir = join(dir, "logs");
  const path = join(logDir, "log.log");
  const sink = fileSink(path, quiet());
  sink.write("1\n");
  rmSync(path);
  sink.write("2\n");
  assert.equal(readFileSync(path, "utf8"), "2\n", "the line after rm is in the new file");
  rmSync(logDir, { recursive: true });
  sink.write("3\n");
  assert.equal(readFileSync(path, "utf8"), "3\n");
  assert.equal(statSync(logDir).mode & 0o777, 0o750, "the recreated directory is 0750");
  await sink.end();
  assert.equal(sink.stats.lines, 3);
  assert.equal(sink.stats.held, 0);
});

test("a last line left cut by an earlier run is ended before the first new line", async () => {
  const dir = scratchDir("sol-sink-");
  const path = join(dir, "log.log");
  writeFileSync(path, '{"a":1}\n{"cut');
  const sink = fileSink(path, quiet());
  sink.write('{"b":2}\n');
  await sink.end();
  assert.deepEqual(readFileSync(path, "utf8").split("\n"), ['{"a":1}', '{"cut', '{"b":2}', ""]);
});

test("a symlink planted at the path is refused (exit 2), and the file it points to is untouched", () => {
  const dir = scratchDir("sol-sink-");
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious\n");
  const path = join(dir, "log.log");
  symlinkSync(victim, path);
  assert.throws(
    () => fileSink(path, quiet()),
    (e: LoggerError) => e.code === "ERR_INVALID_OPTION" && e.exitCode === 2 && /ELOOP/.test(e.message),
  );
  assert.equal(readFileSync(victim, "utf8"), "precious\n");
});

test("a symlink planted after start, in place of the file, is not written through", async () => {
  const dir = scratchDir("sol-sink-");
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious\n");
  const path = join(dir, "log.log");
  const out = quiet();
  const sink = fileSink(path, { ...out, retryMs: 60_000 });
  sink.write("1\n");
  rmSync(path);
  symlinkSync(victim, path);
  sink.write("2\n");
  assert.equal(readFileSync(victim, "utf8"), "precious\n");
  assert.equal(sink.stats.held, 1, "held: the path is not a file we may open");
  assert.match(out.said.join("\n"), /ELOOP/);
  rmSync(path);
  assert.equal(await sink.end(), 0, "written at the end, once the link is gone");
  assert.equal(readFileSync(path, "utf8"), "2\n");
});

test("a path whose directory cannot be made is an option error at once, even inside /proc", () => {
  const t0 = Date.now();
  for (const bad of ["/proc/nope/x.log", "/proc/version/nope.log", "/dev/null/x.log"]) {
    assert.throws(
      () => fileSink(bad, quiet()),
      (e: LoggerError) => e.code === "ERR_INVALID_OPTION" && e.exitCode === 2 && e.message.includes(bad),
    );
  }
  assert.ok(Date.now() - t0 < 5000, "no loop");
});

test("a FIFO planted at the path is refused without blocking", () => {
  const dir = scratchDir("sol-sink-");
  const path = join(dir, "log.log");
  assert.equal(spawnSync("mkfifo", [path]).status, 0, "mkfifo is part of coreutils");
  assert.throws(
    () => fileSink(path, quiet()),
    // O_NONBLOCK: a FIFO without a reader fails at once (ENXIO); with one it is refused as not a file.
    (e: LoggerError) => e.code === "ERR_INVALID_OPTION" && /ENXIO|ENOTREG/.test(e.message),
  );
});
