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

test("a hostile argv yields one valid JSON line per event, every byte kept", async (t) => {
  if (!needs(t, ready, "sshd, ssh and bash are needed")) return;
  const d = json as Daemon;
  assert.equal(d.lines.length, d.events.length, "every line parses as one JSON object");
  const mine = d.events.filter((e: Ev) => e.process?.pid === pid);
  assert.deepEqual(
    mine.map((e) => e.event.action),
    ["connection-opened", "connection-closed"],
  );
  for (const e of mine) {
    assertValidEvent(e);
    const last: string = e.process.args.at(-1);
    // The argument is wrapped in single quotes for the remote shell.
    const head = "'line1\nline2\u001b[31mred\u001b[0m\\xffend";
    assert.ok(last.startsWith(head), last.slice(0, 40));
    assert.equal(last.length, head.length + 100_000 + 1);
    assert.ok(e.ssh_outbound.target.command.startsWith("true 'line1\nline2"));
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
