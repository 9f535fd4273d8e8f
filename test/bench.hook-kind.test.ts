// The protocol bench tells BPF programs apart in perf's samples by who called their entry
// (bench/protocol.ts hookKind); fixture: samples of `perf script -F ip,sym` captured on this machine.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { hookKind, perfSamples } from "../bench/protocol.ts";

const samples = perfSamples(
  readFileSync(new URL("fixtures/perf/script-samples.txt", import.meta.url), "utf8"),
).filter((frames) => frames.length > 0);

test("samples in the session, send and receive programs and outside BPF are told apart", () => {
  assert.deepEqual(samples.map(hookKind), ["syscalls", "socket", "socket", undefined]);
});

test("a cgroup_skb entry anywhere in the stack is the packet hooks; another raw tracepoint is other", () => {
  assert.equal(
    hookKind([
      "bpf_skb_load_bytes",
      "bpf_prog_1_on_egress",
      "__cgroup_bpf_run_filter_skb",
      "ip_finish_output",
    ]),
    "packets",
  );
  assert.equal(
    hookKind([
      "bpf_prog_2_on_state_btf",
      "bpf_trace_run3",
      "__bpf_trace_inet_sock_set_state",
      "tcp_set_state",
    ]),
    "other",
  );
  assert.equal(hookKind([]), undefined);
});
