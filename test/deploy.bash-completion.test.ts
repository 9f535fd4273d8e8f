import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildProgram } from "../src/program.ts";
import { ROOT } from "./helpers/daemon.ts";

const SCRIPT = `${ROOT}deploy/bash-completion`;

/** What the script completes for a command line (the word under the cursor is the last one). */
function complete(words: string[]): string[] {
  const line = words.join(" ");
  const r = spawnSync(
    "bash",
    [
      "-c",
      `source ${SCRIPT}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; COMP_LINE='${line}'; COMP_POINT=${line.length}; _ssh_outbound_logger; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean).sort();
}

test("bash completion offers the commands, their options and option values", () => {
  assert.deepEqual(complete(["ssh-outbound-logger", "re"]), ["report", "resend"]);
  assert.deepEqual(complete(["ssh-outbound-logger", "run", "--netns", ""]), ["all", "own"]);
  assert.deepEqual(complete(["ssh-outbound-logger", "report", "--b"]), ["--by"]);
  assert.deepEqual(complete(["ssh-outbound-logger", "report", "--by", ""]), [
    "host",
    "process",
    "server-banner",
    "target",
    "user",
  ]);
  assert.deepEqual(complete(["ssh-outbound-logger", "run", "--source", ""]), ["auto", "ebpf", "procfs"]);
  assert.deepEqual(complete(["ssh-outbound-logger", "doctor", "--j"]), ["--json"]);
});

test("the completion script knows every command and option the CLI has", () => {
  const script = readFileSync(SCRIPT, "utf8");
  for (const cmd of buildProgram().commands) {
    const line = new RegExp(`^\\s+${cmd.name()}\\) opts="([^"]*)"`, "m").exec(script);
    assert.ok(line, `no completion for ${cmd.name()}`);
    const offered = new Set((line[1] as string).split(" "));
    for (const opt of cmd.options) {
      for (const flag of [opt.short, opt.long].filter(Boolean)) {
        assert.ok(offered.has(flag as string), `${cmd.name()} ${flag} is not completed`);
      }
    }
  }
});
