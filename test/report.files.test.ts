import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  configuredLog,
  DEFAULT_LOG,
  expandDirectories,
  logFamily,
  orderLogFiles,
} from "../src/report/files.ts";
import { scratchDir } from "./helpers/scratch.ts";

// Which files report reads, in which order (src/report/files.ts): a log and its rotated siblings oldest
// first (logrotate's numbered and dated names, gzipped or not), the live file last.

test("the configured log: the environment, else the service's defaults file, else the unit's default", () => {
  const dir = scratchDir("sol-files-");
  const defaults = join(dir, "defaults");
  writeFileSync(defaults, "# set by the package\nSSH_OUTBOUND_OUTPUT=/srv/trail/log.log\n");
  assert.equal(configuredLog({ SSH_OUTBOUND_OUTPUT: "/x/y.log" }, defaults), "/x/y.log");
  assert.equal(configuredLog({}, defaults), "/srv/trail/log.log");
  assert.equal(configuredLog({}, join(dir, "none")), DEFAULT_LOG);
});

test("a log's family: numbered (higher is older), then dated, gzipped or not, the live file last", () => {
  const dir = scratchDir("sol-files-");
  for (const n of [
    "log.log",
    "log.log.1",
    "log.log.2.gz",
    "log.log-20261125.gz",
    "log.log-20261126",
    "other.log",
  ])
    writeFileSync(join(dir, n), "");
  assert.deepEqual(
    logFamily(join(dir, "log.log")).map((p) => p.slice(dir.length + 1)),
    ["log.log.2.gz", "log.log.1", "log.log-20261125.gz", "log.log-20261126", "log.log"],
  );
});

test("files named by a glob are put in that order; a directory stands for the files in it", () => {
  const dir = scratchDir("sol-files-");
  const named = ["log.log", "log.log.1", "log.log.2.gz"].map((n) => join(dir, n));
  assert.deepEqual(
    orderLogFiles(named).map((p) => p.slice(dir.length + 1)),
    ["log.log.2.gz", "log.log.1", "log.log"],
  );
  const hostDir = join(dir, "collector", "web1");
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(join(hostDir, "2026-11-23.log"), "");
  assert.ok(expandDirectories([join(dir, "collector")]).some((p) => p.endsWith("web1/2026-11-23.log")));
});
