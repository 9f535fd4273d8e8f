import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { doctorCommand } from "../src/cli/doctor.ts";
import { listCommand } from "../src/cli/list.ts";
import { reportCommand } from "../src/cli/report.ts";
import { runCommand } from "../src/cli/run.ts";

// The README is the user's manual: every option of every command (src/cli/*.ts) is in it, so an option
// added without its documentation fails here.

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

test("every option of run, list, report and doctor is documented in the README", () => {
  const missing: string[] = [];
  for (const command of [runCommand(), listCommand(), reportCommand(), doctorCommand()]) {
    assert.ok(readme.includes(`### \`${command.name()}\``) || command.name() === "run", command.name());
    for (const option of command.options) {
      const long = option.long as string;
      if (!readme.includes(`\`${long}`)) missing.push(`${command.name()} ${long}`);
    }
  }
  assert.deepEqual(missing, []);
});
