import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { CLI, type Ev, ROOT, runCli } from "../helpers/daemon.ts";

const byTitle = (stdout: string) => new Map((JSON.parse(stdout) as Ev[]).map((c) => [c.title, c]));

test("doctor as root on this machine: privileges, /proc and the configured source are fine", (t) => {
  if (!needs(t, IS_ROOT, "root is needed")) return;
  const r = runCli(["doctor", "--json"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const c = byTitle(r.stdout);
  assert.equal(c.get("privileges")?.level, "ok");
  assert.equal(c.get("/proc")?.level, "ok");
  assert.equal(c.get("procfs source")?.level, "ok", c.get("procfs source")?.detail);
  assert.match(c.get("procfs source")?.detail, /netlink sock_diag/);
  assert.equal(c.get("configured source")?.level, "ok");
  assert.equal(c.get("eBPF source")?.level, checkEbpf().ok ? "ok" : "warn");
  for (const title of ["log file", "systemd unit", "logrotate"]) assert.ok(c.has(title), title);
});

test("doctor exits 1 when the configured source cannot run, and says how to fix it", (t) => {
  if (!needs(t, IS_ROOT && hasCommand("setpriv"), "root and setpriv are needed to drop capabilities")) return;
  // Root without CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN: an empty capability bounding set.
  const r = spawnSync(
    "setpriv",
    ["--bounding-set", "-all", "--", process.execPath, "--import", "tsx", CLI, "doctor", "--source", "ebpf"],
    { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /\[warn\] eBPF source: cannot run: not root and no CAP_BPF\+CAP_PERFMON/);
  assert.match(r.stdout, /fix: run as root, or with CAP_BPF and CAP_PERFMON/);
  assert.match(r.stdout, /\[FAIL\] configured source: ebpf was asked for/);
});

test("doctor loads and attaches the probe for a moment when it can", (t) => {
  const c = checkEbpf();
  if (!needs(t, c.ok, `the eBPF source cannot run here: ${c.ok ? "" : c.reason}`)) return;
  const r = runCli(["doctor", "--json", "--source", "ebpf"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(byTitle(r.stdout).get("eBPF source")?.detail, /loaded and attached here for a moment/);
});

test("doctor names a log path it cannot write", () => {
  const r = runCli(["doctor", "--json", "--output", "/proc/version/x.log"]);
  const c = byTitle(r.stdout);
  assert.equal(c.get("log file")?.level, "warn");
  assert.match(c.get("log file")?.detail, /\/proc\/version\/x\.log is not writable/);
});
