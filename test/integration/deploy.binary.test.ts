import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { buildBinary } from "../helpers/binary.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, ROOT, startDaemon } from "../helpers/daemon.ts";
import { conn, newId } from "../helpers/records.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { assertSshClient, session } from "../helpers/session.ts";
import { runClient } from "../helpers/ssh.ts";
import { SSHD, startSshd, type TestSshd } from "../helpers/sshd.ts";

// The single binary from `npm run build:binary`, run where no Node.js can be found: PATH holds no
// node, and /usr/bin/node (wherever `node` is) is hidden by an empty file in a private mount namespace.
const ready = IS_ROOT && Boolean(SSHD) && hasCommand("ssh") && hasCommand("unshare");
let binary = "";
let dir = "";
let sshd: TestSshd | undefined;

before(async () => {
  binary = buildBinary();
  dir = scratchDir("sol-binary-");
  writeFileSync(join(dir, "empty"), "");
  if (ready) sshd = await startSshd();
});
after(() => {
  sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function withoutNode(): string[] {
  const node = process.execPath;
  const hide = `mount --bind ${dir}/empty ${node} && exec env -i PATH=/usr/sbin:/sbin "$@"`;
  return ["unshare", "-m", "--propagation", "private", "--", "sh", "-c", hide, "without-node"];
}

test("--version prints the package version", () => {
  const version = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).version;
  assert.equal(execFileSync(binary, ["--version"], { encoding: "utf8" }).trim(), version);
});

test("report --paths reads on worker threads inside the binary, as one thread reads", () => {
  // Over 32 MiB of records, two files: what it takes for report to start its reading threads (a
  // worker's module must be embedded in the binary; build:binary names it).
  const files = [join(dir, "log.log-20261122"), join(dir, "log.log")];
  let n = 0;
  for (const file of files) {
    const out: string[] = [];
    for (let i = 0; i < 12_000; i++, n++) {
      const time = new Date(Date.parse("2026-11-22T00:00:00Z") + n * 1000).toISOString();
      const o = {
        id: newId(),
        time,
        hostname: `h${n % 3}`,
        communityId: `1:${String(n).padStart(27, "0")}=`,
      };
      out.push(JSON.stringify(conn({ ...o, action: "connection-opened" })));
      out.push(JSON.stringify(conn({ ...o, action: "connection-closed", start: time })));
    }
    writeFileSync(file, `${out.join("\n")}\n`);
  }
  const report = (threads: string) =>
    execFileSync(binary, ["report", "--paths", "--threads", threads, ...files], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
  const one = report("1");
  assert.equal(one.trimEnd().split("\n").length, n, "one path per connection");
  assert.equal(report("2"), one);
});

for (const source of ["procfs", "ebpf"] as const) {
  test(`without Node.js the binary logs a real ssh connection (${source})`, async (t) => {
    if (!needs(t, ready, "root, sshd, ssh and unshare are needed")) return;
    if (source === "ebpf") {
      // The probe addon, with the BPF object inside it, is embedded in the binary and runs under Bun.
      const c = checkEbpf();
      if (!needs(t, c.ok, `the eBPF source cannot run here: ${c.ok ? "" : c.reason}`)) return;
    }
    const s = sshd as TestSshd;
    // `env -i` drops SSH_OUTBOUND_PIN=none: said here, or the probe stays pinned at the default path.
    const args = ["run", "--source", source, "--format", "json", "--interval", "20", "--pin", "none"];
    const d: Daemon = startDaemon(args, {
      runtime: [...withoutNode(), binary],
      script: false,
    });
    try {
      await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started");
      const before = Date.now();
      const run = await runClient([...s.sshArgs, "true"]);
      assert.equal(run.code, 0, run.stderr);
      const [o, c] = await session(d, `ssh pid ${run.pid}`, (e) => e.process?.pid === run.pid);
      const after = Date.now();
      for (const e of [o, c]) {
        assertSshClient(e, s, run.pid, "true");
        // The times are the wall clock's: Bun's hrtime counts from the process's start, not from boot
        // as the kernel's timestamps do (the packaged binary once wrote times hours ahead).
        const at = Date.parse(e["@timestamp"]);
        assert.ok(
          at >= before - 1000 && at <= after + 1000,
          `${e["@timestamp"]} is between the run's start and end`,
        );
      }
      assert.match(d.stderr(), new RegExp(`started: source ${source}`));
    } finally {
      assert.equal(await d.stop(), 0, d.stderr());
    }
  });
}
