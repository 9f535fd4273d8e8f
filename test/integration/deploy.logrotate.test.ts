import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Daemon, type Ev, NO_RATE_LIMIT, readEventFile, startDaemon } from "../helpers/daemon.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { logrotateConfig, trailLines } from "../helpers/shipped.ts";
import { waitFor } from "../helpers/wait.ts";

// The shipped logrotate config, run by the real logrotate binary 22 times while the daemon writes a
// steady stream of events (real loopback connections it detects). Only paths are changed, and a
// dateformat with the time of day so that more than one rotation a day gets its own file name.
const ROTATIONS = 22;
const ready = IS_ROOT && hasCommand("logrotate");
let dir = "";
let server: Server | undefined;

before(() => {
  dir = scratchDir("sol-logrotate-");
});
after(() => {
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every line of the log and its rotated files; the current file among them. */
function allLines(log: string): { file: string; line: string }[] {
  const out = trailLines(dir);
  assert.ok(out.some((l) => join(dir, l.file) === log));
  return out;
}

test("22 rotations with the shipped logrotate config lose no event and cut no line", async (t) => {
  if (!needs(t, ready, "root and logrotate are needed (apt-get install logrotate)")) return;
  const log = join(dir, "log.log");
  const pidFile = join(dir, "daemon.pid");
  writeFileSync(join(dir, "logrotate.conf"), logrotateConfig(log, pidFile));

  server = createServer((s) => s.on("error", () => {}));
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const d: Daemon = startDaemon(
    // About 40 connections a second, each to be written (the flood limit is hostile.flood's).
    [
      "run",
      "--source",
      "procfs",
      "--interval",
      "10",
      "--ports",
      String(port),
      "--stats-interval",
      "0",
      ...NO_RATE_LIMIT,
    ],
    { env: { SSH_OUTBOUND_OUTPUT: log, SSH_OUTBOUND_PID_FILE: pidFile } },
  );
  const made = new Set<number>();
  let generating = true;
  // Four streams of connections held 100 ms: each one is seen by the 10 ms procfs tick.
  const stream = async () => {
    while (generating) {
      const sock = connect(port, "127.0.0.1");
      await new Promise<void>((r, j) => sock.once("connect", r).once("error", j));
      made.add(sock.localPort as number);
      await new Promise((r) => setTimeout(r, 100));
      await new Promise<void>((r) => sock.end(r));
      sock.destroy();
    }
  };
  try {
    await waitFor(
      `monitor-started; stderr: ${d.stderr()}`,
      () => readEventFile(log).some((e) => e.event.action === "monitor-started"),
      15_000,
    );
    const streams = [stream(), stream(), stream(), stream()];
    let lastRotation = 0;
    for (let i = 0; i < ROTATIONS; i++) {
      // Well into the second after the last rotation ended, so that the rotated file gets a new name
      // (dateext names have a resolution of one second); then rotate.
      const next = (Math.floor(lastRotation / 1000) + 1) * 1000 + 200;
      await waitFor("the next second", () => Date.now() >= next, 3_000);
      execFileSync("logrotate", ["-f", "-s", join(dir, "state"), join(dir, "logrotate.conf")]);
      lastRotation = Date.now();
      await waitFor(`reopen ${i + 1}`, () => statSync(log).size > 0, 5_000);
    }
    generating = false;
    await Promise.all(streams);
    // Every connection made is logged closed before the daemon stops.
    await waitFor(
      "the close of every connection",
      () => {
        const closedPorts = new Set(
          allLines(log)
            .map((l) => JSON.parse(l.line) as Ev)
            .filter((e) => e.event.action === "connection-closed")
            .map((e) => e.source.port),
        );
        return [...made].every((p) => closedPorts.has(p));
      },
      10_000,
    );
  } finally {
    generating = false;
    assert.equal(await d.stop(), 0, d.stderr());
  }

  const lines = allLines(log);
  const events = lines.map((l) => JSON.parse(l.line) as Ev);
  const files = new Set(lines.map((l) => l.file));
  assert.ok(files.size >= ROTATIONS + 1, `${files.size} files hold events`);
  assert.ok(
    [...files].filter((f) => f.endsWith(".gz")).length >= ROTATIONS - 1,
    "rotated files are compressed",
  );

  const conns = events.filter((e) => e.destination?.port === port);
  const byId = new Map<string, string[]>();
  for (const e of conns) {
    const id = e.ssh_outbound.connection_id;
    byId.set(id, [...(byId.get(id) ?? []), e.event.action]);
  }
  for (const [id, actions] of byId) {
    assert.deepEqual(actions, ["connection-opened", "connection-closed"], `connection ${id}`);
  }
  const opened = new Set(
    conns.filter((e) => e.event.action === "connection-opened").map((e) => e.source.port),
  );
  assert.deepEqual(
    [...made].filter((p) => !opened.has(p)),
    [],
    "every connection made was logged",
  );
  assert.ok(made.size >= 100, `${made.size} connections during the rotations`);
  const stopped = events.find((e) => e.event.action === "monitor-stopped");
  assert.equal(stopped?.ssh_outbound.monitor.stats.reopens, ROTATIONS, "one reopen per rotation");
  assert.equal(
    stopped?.ssh_outbound.monitor.stats.lines_written,
    events.length - 1,
    "every line written is on disk",
  );
  const st = statSync(log);
  assert.equal(st.mode & 0o777, 0o640);
  assert.equal(st.gid, 4, "the new file is created root:adm by logrotate");
});
