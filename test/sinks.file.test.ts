import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, renameSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LoggerError } from "../src/errors.ts";
import { fileSink } from "../src/sinks/sink.ts";

const noFatal = { onFatal: (e: LoggerError) => assert.fail(e.message) };

test("creates the directory and a 0640 file, appends, and each line is on disk when write returns", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sol-sink-"));
  const path = join(dir, "sub", "log.log");
  const sink = fileSink(path, noFatal);
  assert.equal(statSync(path).mode & 0o777, 0o640);
  sink.write("one\n");
  assert.equal(readFileSync(path, "utf8"), "one\n", "synchronous: visible before end()");
  await sink.end();
  const again = fileSink(path, noFatal);
  again.write("two\n");
  await again.end();
  assert.equal(readFileSync(path, "utf8"), "one\ntwo\n");
});

test("reopen() after the file was moved away writes to a new file at the path", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sol-sink-"));
  const path = join(dir, "log.log");
  const sink = fileSink(path, noFatal);
  sink.write("before\n");
  renameSync(path, `${path}.1`);
  sink.reopen();
  await new Promise((r) => setTimeout(r, 0));
  sink.write("after\n");
  await sink.end();
  assert.equal(readFileSync(`${path}.1`, "utf8"), "before\n");
  assert.equal(readFileSync(path, "utf8"), "after\n");
  assert.equal(sink.stats.reopens, 1);
});

test("a full disk escalates once through onFatal with the count of lines written (ENOSPC on /dev/full)", async () => {
  if (!existsSync("/dev/full")) assert.fail("/dev/full is part of every Linux system");
  const fatal: LoggerError[] = [];
  const sink = fileSink("/dev/full", { onFatal: (e) => fatal.push(e) });
  sink.write("lost\n");
  assert.equal(fatal.length, 1);
  assert.equal(fatal[0]?.code, "ERR_SINK_WRITE");
  assert.match(fatal[0]?.message ?? "", /ENOSPC/);
  assert.throws(
    () => sink.write("after\n"),
    (e: LoggerError) => e.code === "ERR_SINK_FAILED",
  );
  assert.equal(sink.stats.lines, 0);
});

test("a path that cannot be opened is an option error (exit code 2)", () => {
  assert.throws(
    () => fileSink("/proc/version/nope.log", noFatal),
    (e: LoggerError) => e.code === "ERR_INVALID_OPTION" && e.exitCode === 2 && /--output/.test(e.message),
  );
});
