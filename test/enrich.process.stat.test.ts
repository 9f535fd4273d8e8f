import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { parseCmdline, parseStat, readProcessRest, readStat } from "../src/enrich/process.ts";
import { ProcessCache } from "../src/enrich/processes.ts";
import { waitFor } from "./helpers/wait.ts";

test("a task name with spaces and parentheses does not shift the fields", () => {
  const stat = "4242 (evil) (x y) S 17 4242 4100 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
  assert.deepEqual(parseStat(stat), {
    comm: "evil) (x y",
    state: "S",
    ppid: 17,
    sid: 4100,
    startTicks: 987654,
  });
  assert.equal(parseStat("garbage"), undefined);
});

test("argv splits on NUL and keeps an empty argument", () => {
  assert.deepEqual(parseCmdline(Buffer.from("ssh\0-p\0\0host\0")), ["ssh", "-p", "", "host"]);
  assert.deepEqual(parseCmdline(Buffer.alloc(0)), []);
});

test("our own process reads back with ancestry that ends at pid 1, and a missing pid is undefined", () => {
  const cache = new ProcessCache();
  const me = cache.get(process.pid);
  assert.ok(me);
  assert.equal(me.pid, process.pid);
  assert.equal(me.ppid, process.ppid);
  assert.equal(me.executable, process.execPath);
  assert.ok(Math.abs(Number(me.startNs / 1_000_000n) - (Date.now() - process.uptime() * 1000)) < 5_000);
  const chain = cache.ancestry(me);
  assert.equal(chain[0]?.pid, 1);
  assert.equal(chain.at(-1)?.pid, process.ppid);
  assert.equal(cache.get(2 ** 22 + 1), undefined, "a pid above pid_max does not exist");
  assert.equal(readStat(2 ** 22 + 1), undefined);
  cache.get(process.pid);
  assert.ok(cache.hits >= 1);
});

test("a zombie (exited, not yet reaped) is gone for enrichment, not a process with an empty argv", async () => {
  // A child that exits at once, its parent (sh, exec'd into sleep) never reaping it.
  const sh = spawn("sh", ["-c", "true & exec sleep 5"], { stdio: "ignore" });
  try {
    const zombie = await waitFor("the zombie", () =>
      readdirSync("/proc")
        .filter((x) => /^\d+$/.test(x))
        .map(Number)
        .find((p) => {
          const st = readStat(p);
          return st !== undefined && st.ppid === sh.pid && st.state === "Z";
        }),
    );
    const st = readStat(zombie) as NonNullable<ReturnType<typeof readStat>>;
    assert.equal(st.state, "Z");
    assert.equal(readProcessRest(zombie, st), undefined);
  } finally {
    sh.kill();
  }
});
