// An argv with hostile bytes (a newline, ANSI escapes, a byte that is not UTF-8, 100 kB) through a real
// ssh session: one line per record in JSON and in text, the bytes exact where kept. (The attacks of
// issue 19 are the hostile.*.test.ts files.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hasCommand, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, startDaemon } from "../helpers/daemon.ts";
import { assertValidEvent } from "../helpers/schema.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";

const ready = Boolean(SSHD) && hasCommand("ssh") && hasCommand("bash");
let sshd: TestSshd | undefined;
let json: Daemon | undefined;
let text: Daemon | undefined;
let pid = 0;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

before(async () => {
  if (!ready) return;
  sshd = await startSshd();
  json = startDaemon(["run", "--source", "procfs", "--format", "json", "--interval", "20"]);
  text = startDaemon(["run", "--source", "procfs", "--format", "text", "--interval", "20"]);
  await json.waitFor("json daemon up", (e) => e.event?.action === "monitor-started");
  await new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const check = () =>
      text?.lines.some((l) => l.includes("monitor-started"))
        ? resolve()
        : Date.now() - t0 > 15_000
          ? reject(new Error("text daemon did not start"))
          : setTimeout(check, 20);
    check();
  });
  // The remote command carries a newline, ANSI colour codes, a byte that is not UTF-8 and 100 kB.
  // bash makes the bytes; node cannot pass a non-UTF-8 argv itself.
  const script =
    `exec ssh ${sshd.sshArgs.map(quote).join(" ")} true ` +
    `"'$(printf 'line1\\nline2\\033[31mred\\033[0m\\377end')$(head -c 100000 /dev/zero | tr '\\0' x)'"`;
  const run = await runClient([], { prefix: ["bash", "-c", script, "bash"], argv0: "bash" });
  assert.equal(run.code, 0, run.stderr);
  pid = run.pid;
  await json.waitFor("close (json)", (e) => e.process?.pid === pid && e.event.action === "connection-closed");
});

after(async () => {
  await json?.stop();
  await text?.stop();
  sshd?.stop();
});

test("a hostile argv yields one valid JSON line per event: its bytes exact up to 64 KiB, the cut told", async (t) => {
  if (!needs(t, ready, "sshd, ssh and bash are needed")) return;
  const d = json as Daemon;
  const s = sshd as TestSshd;
  assert.equal(d.lines.length, d.events.length, "every line parses as one JSON object");
  const mine = d.events.filter((e: Ev) => e.process?.pid === pid);
  assert.deepEqual(
    mine.map((e) => e.event.action),
    ["connection-opened", "connection-closed"],
  );
  // The argument is wrapped in single quotes for the remote shell; 0xff is not UTF-8.
  const head = Buffer.concat([
    Buffer.from("'line1\nline2\u001b[31mred\u001b[0m"),
    Buffer.from([0xff]),
    Buffer.from("end"),
  ]);
  const whole =
    ["ssh", ...s.sshArgs, "true"].reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) +
    head.length +
    100_001 +
    1;
  for (const e of mine) {
    assertValidEvent(e);
    const i = e.process.args.length - 1;
    assert.equal(i, s.sshArgs.length + 2, "every argument is there, the last one cut");
    assert.equal(e.process.args_count, i + 1);
    const last: string = e.process.args[i];
    assert.ok(last.startsWith("'line1\nline2\u001b[31mred\u001b[0m\ufffdend"), last.slice(0, 40));
    assert.match(last.slice(head.length), /^x+$/);
    assert.deepEqual(e.ssh_outbound.args_cut, { bytes: whole, kept: 64 * 1024 });
    // The exact bytes of the argument that was not UTF-8: the 0xff, not the text "\xff".
    const raw = Buffer.from(e.ssh_outbound.raw_bytes[`process.args.${i}`], "base64");
    assert.deepEqual(raw.subarray(0, head.length), head);
    assert.equal(raw.length, Buffer.byteLength(last) - 2, "U+FFFD is 3 bytes, 0xff one");
    assert.ok(e.ssh_outbound.target.command.startsWith("true 'line1\nline2"));
    assert.equal(e.ssh_outbound.target.command_cut.kept, 1024);
  }
});

test("a hostile argv yields exactly one escaped text line per event", async (t) => {
  if (!needs(t, ready, "sshd, ssh and bash are needed")) return;
  const d = text as Daemon;
  const lines = await new Promise<string[]>((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      const l = d.lines.filter((x) => x.includes(` pid=${pid} `));
      if (l.length >= 2) resolve(l);
      else if (Date.now() - t0 > 15_000)
        reject(new Error(`text lines for pid ${pid} missing: ${d.stderr()}`));
      else setTimeout(check, 20);
    };
    check();
  });
  assert.equal(lines.length, 2);
  assert.match(lines[0] as string, / connection-opened /);
  assert.match(lines[1] as string, / connection-closed /);
  for (const l of lines) {
    assert.ok(l.includes("line1\\nline2\\x1b[31mred\\x1b[0m\\xffend"), "escapes are visible");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
    assert.doesNotMatch(l, /[\u0000-\u001f\u007f\ufffd]/u, "no raw control character or replaced byte");
  }
});
