import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { type Ev, runCli } from "../helpers/daemon.ts";
import { closeHoles, collected, hasRelp } from "../helpers/fleet.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { trailLines } from "../helpers/shipped.ts";
import { waitFor } from "../helpers/wait.ts";
import {
  hostDir,
  latestArrived,
  missingAtCollector,
  rotateHost,
  startCollector,
  startWriter,
  startWriterFleet,
  stopWriter,
  type WriterFleet,
} from "../helpers/writer-fleet.ts";

// The collector away for ten minutes' worth of records: two hosts at 10 records a second each make
// 12,000 records in ten minutes; here they are written in seconds (the daemon's formatter and file
// sink, test/helpers/trail-writer.ts) while the collector is stopped for over a minute, each host's log
// rotating once meanwhile. The shipped sender keeps them (1,000 in memory, then its disk queue), and
// once the collector is back every record arrives, byte for byte, with no hole in any run's numbers.
// A real ten-minute outage, with restarts and rotations every minute, is the soak: npm run soak:fleet.
const ready = IS_ROOT && hasCommand("rsyslogd") && hasCommand("logrotate") && hasRelp();
const PER_HOST = 6_000;
const OUTAGE_MS = 65_000;

let fleet: WriterFleet | undefined;
after(async () => {
  if (!fleet) return;
  for (const h of fleet.hosts) h.writer?.kill("SIGKILL");
  await fleet.sender.stop();
  await fleet.collector.stop();
});

test("ten minutes' records from two hosts while the collector is away: kept in the sender's disk queue, every one delivered byte for byte, no hole", async (t) => {
  if (!needs(t, ready, "root, rsyslogd with rsyslog-relp and logrotate are needed")) return;
  const f = await startWriterFleet(scratchDir("sol-fleet-outage-"), ["web1", "db1"]);
  fleet = f;
  for (const h of f.hosts) startWriter(h, 0, 100);
  for (const h of f.hosts) await stopWriter(h, true);
  await latestArrived(f, 30_000);

  assert.equal(await f.collector.stop(), 0, f.collector.stderr());
  const down = Date.now();
  for (const half of [1, 2]) {
    for (const h of f.hosts) startWriter(h, 0, PER_HOST / 2);
    for (const h of f.hosts) await stopWriter(h, true);
    if (half === 1) for (const h of f.hosts) await rotateHost(f, h);
  }
  // Beyond its 1,000 records in memory the queue spills to the work directory.
  await waitFor(
    "the sender's queue on disk",
    () => readdirSync(join(f.root, "sender-work")).some((n) => n.startsWith("ssh-outbound-ship.")),
    30_000,
  );
  assert.ok(missingAtCollector(f) >= 2 * PER_HOST, "the outage's records wait at the sender");
  await waitFor("the outage's minute and more", () => Date.now() - down >= OUTAGE_MS, OUTAGE_MS + 5_000);
  const back = Date.now();
  f.collector = await startCollector(f.root, f.collectorConf, f.port);
  // Records arrive out of order (the queue's part in memory goes before the part on disk): wait for
  // all of them. Any still missing then was lost on the way, and report names it for resend.
  let drained = Number.NaN;
  try {
    await waitFor("every record at the collector", () => missingAtCollector(f) === 0, 180_000);
    drained = Date.now() - back;
  } catch {
    // counted below
  }
  const lost = missingAtCollector(f);
  const ran = closeHoles(f.inbox, (name) => f.hosts.find((h) => h.name === name)?.dir);
  await waitFor("every record at the collector after resend", () => missingAtCollector(f) === 0, 60_000);
  const at = collected(f.inbox);
  for (const h of f.hosts) {
    const sent = trailLines(h.dir).map((l) => l.line);
    assert.equal(sent.length, h.written, `${h.name}'s trail holds what its writers wrote`);
    const sentSet = new Set(sent);
    assert.deepEqual(
      (at.get(hostDir(h)) ?? []).filter((l) => !sentSet.has(l)).map((l) => l.slice(0, 100)),
      [],
      `no line at the collector that ${h.name} did not write`,
    );
    // A rotated file is log.log-DATE, compressed or not.
    assert.ok(
      readdirSync(h.dir).some((n) => n.startsWith("log.log-")),
      `${h.name} rotated`,
    );
  }
  const r = runCli(["report", "--json", f.inbox]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /not in these files/, "no hole in any run's numbers");
  const sessions = r.stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev)
    .filter((s) => s.type === "session");
  assert.equal(
    sessions.length,
    f.hosts.reduce((n, h) => n + h.written / 2, 0),
    "every connection, once",
  );
  t.diagnostic(
    `written: ${f.hosts.map((h) => `${h.name} ${h.written}`).join(", ")}; collector away ${((back - down) / 1000).toFixed(0)} s; all delivered ${(drained / 1000).toFixed(1)} s after it was back; lost in rsyslog: ${lost}${ran.length ? `; resend: ${ran.join("; ")}` : ""}`,
  );
});
