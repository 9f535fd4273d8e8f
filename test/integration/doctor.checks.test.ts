import assert from "node:assert/strict";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf-check.ts";
import { IS_ROOT, needs } from "../helpers/ci.ts";
import { type Ev, runCli } from "../helpers/daemon.ts";

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
  assert.equal(c.get("eBPF source")?.level, checkEbpf("bpftrace").ok ? "ok" : "warn");
  for (const title of ["log file", "systemd unit", "logrotate"]) assert.ok(c.has(title), title);
});

test("doctor exits 1 when the configured source cannot run, and says how to fix it", () => {
  const r = runCli(["doctor", "--source", "ebpf", "--bpftrace", "/nonexistent/bpftrace"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /\[warn\] eBPF source: cannot run: \/nonexistent\/bpftrace not found/);
  assert.match(r.stdout, /fix: apt-get install bpftrace/);
  assert.match(r.stdout, /\[FAIL\] configured source: ebpf was asked for/);
});

test("doctor names a log path it cannot write", () => {
  const r = runCli(["doctor", "--json", "--output", "/proc/version/x.log"]);
  const c = byTitle(r.stdout);
  assert.equal(c.get("log file")?.level, "warn");
  assert.match(c.get("log file")?.detail, /\/proc\/version\/x\.log is not writable/);
});
