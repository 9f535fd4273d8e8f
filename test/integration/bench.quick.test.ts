import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { ROOT } from "../helpers/daemon.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { SSHD } from "../helpers/sshd.ts";

// The benchmark harness in its --quick mode, so that it cannot rot: it must run end to end and
// measure every contender. Its numbers are not asserted (speed goals live in the benchmark).
const dir = scratchDir("sol-bench-");
after(() => rmSync(dir, { recursive: true, force: true }));

test("npm run bench -- --quick measures the lsof loop, procfs and eBPF and writes its table", (t) => {
  if (!needs(t, IS_ROOT && Boolean(SSHD) && hasCommand("lsof"), "root, sshd and lsof are needed")) return;
  const r = spawnSync("npm", ["run", "--silent", "bench", "--", "--quick", "--out", dir], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 420_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const md = readdirSync(dir).filter((f) => f.endsWith(".md"));
  assert.equal(md.length, 1);
  const table = readFileSync(join(dir, md[0] as string), "utf8");
  const [main, rest] = table.split("### Hostile");
  const [hostile, protocol] = (rest ?? "").split("### SSH by protocol");
  const all = (main as string)
    .split("\n")
    .filter((l) => l.startsWith("| ") && !l.startsWith("| contender") && !l.startsWith("| ---"));
  // Two tables: the contenders (13 columns), and the procfs source with many connections open (5).
  const rows = all.filter((l) => l.split("|").length > 10);
  const open = all.filter((l) => l.split("|").length <= 10);
  assert.equal(open.length, 1, "the many-open-connections row");
  const openCells = open[0]?.split("|").map((c) => c.trim()) ?? [];
  assert.equal(openCells[2], "200", "--quick holds 200 connections open");
  assert.match(openCells[3] as string, /^\d+\.\d+$/, "its CPU measured");
  const labels = rows.map((l) => l.split("|")[1]?.trim());
  const expected = [
    "lsof loop @ 50 ms",
    "ours, procfs @ 50 ms",
    "lsof loop @ 250 ms",
    "ours, procfs @ 250 ms",
  ];
  if (checkEbpf().ok) expected.push("ours, eBPF");
  assert.deepEqual(labels, expected);
  for (const row of rows) {
    const cells = row.split("|").map((c) => c.trim());
    assert.match(cells[2] as string, /^\d+\.\d+$/, `idle CPU measured: ${row}`);
    assert.ok(
      cells.slice(6, 13).every((c) => /^\d+%$/.test(c)),
      `detection measured: ${row}`,
    );
  }
  // The hostile table: every attack run against each source where it applies, its CPU measured.
  const hostileRows = (hostile ?? "")
    .split("\n")
    .filter((l) => l.startsWith("| ") && !l.startsWith("| attack"));
  assert.equal(hostileRows.length, checkEbpf().ok ? 8 : 3, `the hostile rows:\n${hostile}`);
  for (const row of hostileRows) {
    const cells = row.split("|").map((c) => c.trim());
    assert.match(cells[4] as string, /^\d+\.\d+$/, `the daemon's CPU measured: ${row}`);
    assert.match(cells[10] as string, /^(yes|\*\*no\*\*)$/, `judged against its target: ${row}`);
  }
  // The protocol-detection overhead: no daemon, --protocol off and on, each measured, nothing written.
  if (checkEbpf().ok) {
    const [measured, sampled] = (protocol ?? "").split("Where the CPU went");
    const [rounds, perConnection] = (measured ?? "").split("The programs' own time per short connection");
    const tableRows = (text: string | undefined) =>
      (text ?? "")
        .split("\n")
        .filter((l) => l.startsWith("| ") && !l.startsWith("| mode") && !l.startsWith("| ---"));
    const modes = tableRows(rounds);
    assert.deepEqual(
      modes.map((l) => l.split("|")[1]?.trim()),
      [
        "no daemon",
        "eBPF daemon, --protocol off",
        "eBPF daemon, --protocol on (socket hooks)",
        "eBPF daemon, --protocol packets",
      ],
      `the protocol rows:\n${protocol}`,
    );
    for (const row of modes) {
      const cells = row.split("|").map((c) => c.trim());
      assert.match(cells[2] as string, /^\d+\.\d+$/, `iperf3 measured: ${row}`);
      assert.match(cells[6] as string, /^\d+$/, `short connections measured: ${row}`);
    }
    assert.deepEqual(
      modes.slice(1).map((l) => l.split("|")[11]?.trim()),
      ["0", "0", "0"],
      "no record of the non-SSH traffic",
    );
    // The programs' own time per short connection, each daemon: the connection program in every mode,
    // the detection's hooks only where they run, and something beyond --protocol off where they do.
    const perConn = tableRows(perConnection).map((l) => l.split("|").map((c) => c.trim()));
    assert.deepEqual(
      perConn.map((c) => c[1]),
      [
        "eBPF daemon, --protocol off",
        "eBPF daemon, --protocol on (socket hooks)",
        "eBPF daemon, --protocol packets",
      ],
      `the per-connection rows:\n${perConnection}`,
    );
    const beyondOff = perConn.map((c) => Number(c.at(-4)));
    assert.equal(beyondOff[0], 0, "off against itself");
    assert.ok(
      (beyondOff[1] as number) > 0 && (beyondOff[2] as number) > 0,
      `the hooks cost something: ${beyondOff}`,
    );
    // perf's samples of each kind of BPF program, per workload and mode: the detection's hooks only where
    // they run.
    const perfRows = (sampled ?? "")
      .split("\n")
      .filter((l) => l.startsWith("| iperf3 |") || l.startsWith("| short connections |"))
      .map((l) => l.split("|").map((c) => c.trim()));
    assert.equal(perfRows.length, 6, `the sampled rows:\n${sampled}`);
    const pct = (c: string | undefined) => Number(/^\**([\d.]+) %\**$/.exec(c ?? "")?.[1] ?? Number.NaN);
    for (const cells of perfRows) {
      assert.ok(Number(cells[3]) > 1000, `perf took samples: ${cells.join("|")}`);
      const [packets, socket] = [pct(cells[4]), pct(cells[5])];
      const mode = cells[2] as string;
      if (mode.includes("--protocol off")) assert.deepEqual([packets, socket], [0, 0], cells.join("|"));
      else if (mode.includes("--protocol packets")) assert.ok(packets > 0 && socket === 0, cells.join("|"));
      else assert.ok(socket > 0 && packets === 0, cells.join("|"));
    }
  }
  const json = JSON.parse(readFileSync(join(dir, md[0]?.replace(/\.md$/, ".json") as string), "utf8"));
  assert.equal(json.options.quick, true);
  assert.equal(r.stdout.trim(), table.split("\n").slice(2).join("\n").trim());
});
