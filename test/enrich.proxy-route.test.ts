import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readlinkSync } from "node:fs";
import { after, test } from "node:test";
import type { ProcessFacts } from "../src/enrich/process.ts";
import { isProxyOf } from "../src/enrich/proxy.ts";
import { servedBy } from "../src/enrich/route.ts";
import type { SshTarget } from "../src/enrich/ssh-target.ts";
import { waitFor } from "./helpers/wait.ts";

// A ProxyCommand and the session it serves (src/enrich/proxy.ts, route.ts), with real processes: as
// OpenSSH runs one, a parent makes two pipes, runs the child on them (stdin, stdout) and keeps the other
// ends; a second child of the same parent that only inherited its output is not its ProxyCommand. (Node's
// own child stdio are socketpairs, so the parent here is a few lines of Python.)

const PARENT = `
import os, sys, time
r1, w1 = os.pipe(); r2, w2 = os.pipe()
proxy = os.fork()
if proxy == 0:
    os.dup2(r1, 0); os.dup2(w2, 1); os.execvp("sleep", ["sleep", "30"])
other = os.fork()
if other == 0:
    os.execvp("sleep", ["sleep", "30"])
print(os.getpid(), proxy, other, flush=True)
time.sleep(30)
`;

const link = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
};

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill();
  for (const pid of pids) {
    try {
      process.kill(pid);
    } catch {
      // gone already
    }
  }
});
const pids: number[] = [];

/** The parent, its ProxyCommand child and its other child. */
async function family(): Promise<{ parent: number; proxy: number; other: number }> {
  const c = spawn("python3", ["-c", PARENT], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(c);
  let line = "";
  c.stdout?.on("data", (d: Buffer) => {
    line += d.toString();
  });
  await waitFor("the parent's pids", () => line.endsWith("\n"), 10_000);
  const [parent, proxy, other] = line.trim().split(" ").map(Number) as [number, number, number];
  pids.push(proxy, other);
  // The children print nothing: wait until the proxy runs on its pipes and the other one has exec'd.
  await waitFor(
    "both children started",
    () => link(`/proc/${proxy}/fd/0`).startsWith("pipe:") && link(`/proc/${other}/exe`).endsWith("/sleep"),
    10_000,
  );
  return { parent, proxy, other };
}
const facts = (pid: number): ProcessFacts =>
  ({ pid, ppid: 1, name: "ssh", args: [], startNs: 0n, startTicks: 0, uid: 0, euid: 0 }) as ProcessFacts;
const target = (t: Partial<SshTarget>): SshTarget => ({ client: "ssh", jump: [], ...t });

test("a child on pipes its parent holds is that parent's ProxyCommand; its other child is not", async () => {
  const f = await family();
  assert.equal(isProxyOf(f.proxy, f.parent), true);
  assert.equal(isProxyOf(f.other, f.parent), false);
});

test("a -W helper serves the session its parent typed: that target, hop 1 of the jumps and the destination", async () => {
  const f = await family();
  const typed = target({ host: "db1", jump: ["a", "b"] });
  const r = servedBy(facts(f.proxy), target({ host: "a", stdioForward: "[b]:22" }), [facts(f.parent)], (p) =>
    p.pid === f.parent ? typed : undefined,
  );
  assert.deepEqual(r, { target: typed, route: { hop: 1, of: 3 }, proxyFor: f.parent });
  const notServing = servedBy(
    facts(f.other),
    target({ host: "a", stdioForward: "b:22" }),
    [facts(f.parent)],
    () => typed,
  );
  assert.equal(notServing, undefined, "not its parent's pipe: a session of its own");
});
