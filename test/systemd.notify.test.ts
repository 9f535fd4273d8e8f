import assert from "node:assert/strict";
import { test } from "node:test";
import { ServiceNotifier } from "../src/systemd.ts";
import { quietDiag } from "./helpers/fakes.ts";
import { waitFor } from "./helpers/wait.ts";

test("outside systemd (no NOTIFY_SOCKET) nothing is sent", () => {
  assert.equal(ServiceNotifier.fromEnv(quietDiag(), {}), undefined);
});

test("READY=1 at start, WATCHDOG=1 from the event loop at half WatchdogSec, STOPPING=1 at stop", async () => {
  const sent: string[] = [];
  const n = ServiceNotifier.fromEnv(
    quietDiag(),
    { NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "100000", WATCHDOG_PID: String(process.pid) },
    (socket, message) => {
      assert.equal(socket, "/run/systemd/notify");
      sent.push(message);
    },
  ) as ServiceNotifier;
  n.ready("watching");
  assert.match(sent[0] as string, /^READY=1\n/);
  await waitFor("three watchdog pings", () => sent.filter((m) => m === "WATCHDOG=1").length >= 3, 5000);
  n.stopping();
  const count = sent.length;
  assert.equal(sent.at(-1), "STOPPING=1");
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(sent.length, count, "no ping after stopping");
});

test("a watchdog meant for another pid is not ours to feed; a failing send is said, never thrown", () => {
  const sent: string[] = [];
  const said: string[] = [];
  const diag = { ...quietDiag(), once: (_k: string, m: string) => void said.push(m) };
  const n = ServiceNotifier.fromEnv(
    diag,
    { NOTIFY_SOCKET: "@sd", WATCHDOG_USEC: "100000", WATCHDOG_PID: "1" },
    (_s, m) => {
      sent.push(m);
      throw Object.assign(new Error("no such socket"), { code: "ENOENT" });
    },
  ) as ServiceNotifier;
  n.ready("x");
  n.stopping();
  assert.equal(sent.length, 2, "READY and STOPPING only");
  assert.match(said[0] as string, /cannot notify systemd at @sd: no such socket/);
});
