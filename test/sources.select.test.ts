import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../src/config.ts";
import { LoggerError } from "../src/errors.ts";
import { EbpfSource } from "../src/sources/ebpf/source.ts";
import { SourceError } from "../src/sources/errors.ts";
import { FallbackSource } from "../src/sources/fallback.ts";
import { ProcfsSource } from "../src/sources/procfs/source.ts";
import { Required, selectSource } from "../src/sources/select.ts";
import { FakeSource, quietDiag } from "./helpers/fakes.ts";

// Which source runs (src/sources/select.ts), for each answer of "can eBPF run here?": procfs when asked
// for; under auto, eBPF with procfs as its fallback, or procfs saying why; an explicit --source ebpf
// never falls back: it cannot run, or its start fails, and that is a usage error (exit 2).

const config = (source: string) => resolveConfig({ source }, {}, false);
const yes = () => ({ ok: true as const, reason: "our BPF program" });
const no = () => ({ ok: false as const, code: "ERR_NO_BTF" as const, reason: "the kernel has no BTF" });

test("--source procfs is procfs, whatever eBPF could do", () => {
  const s = selectSource(config("procfs"), quietDiag(), yes);
  assert.ok(s instanceof ProcfsSource);
  assert.equal(s.reason, "procfs chosen with --source");
});

test("auto: eBPF with procfs behind it when eBPF can run; procfs, saying why, when it cannot", () => {
  const a = selectSource(config("auto"), quietDiag(), yes);
  assert.ok(a instanceof FallbackSource);
  const b = selectSource(config("auto"), quietDiag(), no);
  assert.ok(b instanceof ProcfsSource);
  assert.equal(b.reason, "procfs, since eBPF cannot run here: the kernel has no BTF");
});

test("--source ebpf that cannot run here is exit 2, naming the option and why", () => {
  assert.throws(
    () => selectSource(config("ebpf"), quietDiag(), no),
    (e: unknown) =>
      e instanceof LoggerError &&
      e.exitCode === 2 &&
      e.code === "ERR_NO_BTF" &&
      e.message === 'invalid --source "ebpf": the eBPF source cannot run here: the kernel has no BTF',
  );
});

test("--source ebpf that can run is eBPF alone (no fallback), and a failed start is exit 2", async () => {
  const s = selectSource(config("ebpf"), quietDiag(), yes);
  assert.ok(s instanceof Required);
  assert.equal(s.name, "ebpf");
  assert.equal(s.reason, "ebpf (chosen with --source): our BPF program");
  const failing = new Required(
    new FakeSource("ebpf", { failStart: new SourceError("ERR_PROBE_ATTACH", "EPERM: attach failed") }),
  );
  await assert.rejects(
    failing.start({ emit() {}, degraded() {}, failed() {} }),
    (e: unknown) =>
      e instanceof LoggerError &&
      e.exitCode === 2 &&
      e.message === 'invalid --source "ebpf": it cannot start here: EPERM: attach failed',
  );
  assert.ok(!(s instanceof EbpfSource), "wrapped, so that its start failing is not a fallback");
});
