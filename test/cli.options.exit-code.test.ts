import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { CLI, runCli as cli, ROOT } from "./helpers/daemon.ts";

test("invalid options exit 2 with one line naming the option and the value, and write no event", () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [["run", "--interval", "abc"], {}, /invalid --interval "abc": expected a whole number of milliseconds/],
    [["run", "--ports", "22,99999"], {}, /invalid --ports "22,99999"/],
    [["run", "--format", "yaml"], {}, /invalid --format "yaml": expected one of json, text/],
    [["run", "--source", "dtrace"], {}, /invalid --source "dtrace"/],
    [["run", "--netns", "mine"], {}, /invalid --netns "mine": expected one of all, own/],
    [["run"], { SSH_OUTBOUND_NETNS: "host" }, /invalid SSH_OUTBOUND_NETNS "host"/],
    [["run"], { SLEEP: "soon" }, /invalid SLEEP "soon"/],
    [
      ["run", "--output", "/proc/version/x.log"],
      {},
      /invalid --output "\/proc\/version\/x.log": cannot open it/,
    ],
  ];
  for (const [args, env, message] of cases) {
    const r = cli(args, env);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "", "nothing reaches the event stream");
  }
});

test("an unknown option or command is a usage error (exit 2); --help and --version exit 0", () => {
  assert.equal(cli(["run", "--bogus"]).code, 2);
  assert.equal(cli(["launch"]).code, 2);
  const help = cli(["run", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--interval <ms>/);
  assert.match(help.stdout, /Examples:/);
  const v = cli(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
});

test("output to a reader that has gone (`run --help | head -0`, `doctor | head -0`) ends quietly with exit 0, as other tools do", async () => {
  for (const args of [["run", "--help"], ["report", "--help"], ["--help"], ["doctor"]]) {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Our end of the pipe closed before the CLI writes: its write meets EPIPE.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    assert.equal(code, 0, `${args.join(" ")}: ${stderr}`);
    assert.equal(stderr, "", "no stack trace");
  }
});
