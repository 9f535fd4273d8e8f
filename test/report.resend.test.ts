import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { type Ev, runCli } from "./helpers/daemon.ts";
import { conn, newId } from "./helpers/records.ts";
import { scratchDir } from "./helpers/scratch.ts";

// resend (src/report/resend.ts) on a host's own files: the records of a run with the numbers asked
// for, from a rotated .gz file and the live one, appended to the spool exactly as written; a range the
// files hold only in part refused and named. Through real rsyslog: test/integration/fleet.rsyslog.

const RUN = "01a21919-96c7-7d3e-8b22-4e0d6a0b2f11";
const OTHER = "01a21919-0000-7000-8000-000000000000";

/** Records 1..n of a run, as the daemon numbers them, with text that must come back byte for byte. */
function records(run: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const r = conn({
      id: newId(),
      action: "connection-opened",
      time: "2026-11-23T09:00:00.000000000Z",
      user: `ü${i}`,
      typedHost: `db${i}\u0001"\\`,
    }) as Ev;
    r.event.sequence = i + 1;
    r.agent = { type: "ssh-outbound-logger", ephemeral_id: run };
    return JSON.stringify(r);
  });
}

function host(): { dir: string; lines: string[]; spool: string } {
  const dir = scratchDir("sol-resend-");
  const lines = records(RUN, 30);
  // 1–20 rotated and compressed, 21–30 in the live file; another run's records beside them.
  writeFileSync(join(dir, "log.log-20261122.gz"), gzipSync(`${lines.slice(0, 20).join("\n")}\n`));
  writeFileSync(join(dir, "log.log"), `${[...records(OTHER, 5), ...lines.slice(20)].join("\n")}\n`);
  return { dir, lines, spool: join(dir, "spool.log") };
}

test("the asked records, from a .gz and the live file, appended to the spool byte for byte, in order", () => {
  const h = host();
  const r = runCli(["resend", "--run", RUN, "--seq", "18-22,25", "--spool", h.spool, h.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sent again 6 record\(s\) of run 01a21919-96c7-7d3e-8b22-4e0d6a0b2f11 \(18-22,25\)/);
  const expected = [17, 18, 19, 20, 21, 24].map((i) => h.lines[i]);
  assert.equal(readFileSync(h.spool, "utf8"), `${expected.join("\n")}\n`);
});

test("a range the files hold only in part is refused and named; the whole ranges are still sent", () => {
  const h = host();
  const r = runCli(["resend", "--run", "01a21919-96c7", "--seq", "29-31,2", "--spool", h.spool, h.dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refused 29-31: these files do not have record\(s\) 31 of run 01a21919-96c7-7d3e/);
  assert.equal(readFileSync(h.spool, "utf8"), `${h.lines[1]}\n`, "record 2 only");
});

test("a prefix matching two runs, an unknown run and bad options: nothing sent, said why", () => {
  const h = host();
  const ambiguous = runCli(["resend", "--run", "01a21919", "--seq", "1", "--spool", h.spool, h.dir]);
  assert.equal(ambiguous.code, 1);
  assert.match(ambiguous.stderr, /matches 2 runs/);
  const unknown = runCli(["resend", "--run", "ffffffff", "--seq", "1", "--spool", h.spool, h.dir]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no record of run ffffffff/);
  assert.throws(() => readFileSync(h.spool), "nothing was written");
  for (const [args, option] of [
    [["--run", RUN, "--seq", "5-3"], "--seq"],
    [["--run", RUN, "--seq", "0"], "--seq"],
    [["--run", "x", "--seq", "1"], "--run"],
  ] as const) {
    const bad = runCli(["resend", ...args, "--spool", h.spool, h.dir]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, new RegExp(`invalid ${option}`));
  }
});
