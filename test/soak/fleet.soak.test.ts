import assert from "node:assert/strict";
import { test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { hasRelp } from "../helpers/fleet.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { soak } from "../helpers/soak.ts";

// Issue 23's soak, ten minutes: two hosts at 10 records a second each through the shipped rsyslog
// sender and collector; every minute both logs rotated and a fault (sender restart, collector restart,
// both, the sender down across a rotation: each at least twice). test/run.sh runs this file beside the
// other tests (it starts no daemon of ours: rsyslogd, logrotate and two trail writers, a light load).
// `npm run soak:fleet` runs it by hand and keeps the results. SOAK_SEED plays a run's faults again.
const ready = IS_ROOT && hasCommand("rsyslogd") && hasCommand("logrotate") && hasRelp();
const MINUTES = 10;
const RATE = 10;

test("fleet soak: ten minutes of rotations and sender and collector restarts; after resend every record at the collector, byte for byte, and no hole", async (t) => {
  if (!needs(t, ready, "root, rsyslogd with rsyslog-relp and logrotate are needed")) return;
  const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
  const r = await soak({
    root: scratchDir("sol-soak-"),
    minutes: MINUTES,
    rate: RATE,
    seed,
    say: (l) => t.diagnostic(l),
  });
  t.diagnostic(
    `seed ${seed}: ${JSON.stringify(r.written)} written, ${r.rotations} rotations (${r.rotationsWhileSenderDown} with the sender down), ${r.senderRestarts} sender and ${r.collectorRestarts} collector restarts; lost in rsyslog ${r.lost}, closed by ${r.resend.length} resend; copies ${r.copies}`,
  );
  // The faults happened as planned: each kind at least twice in ten minutes.
  assert.ok(r.rotations >= MINUTES + 2, `${r.rotations} rotations`);
  assert.ok(r.rotationsWhileSenderDown >= 2, `${r.rotationsWhileSenderDown} rotations with the sender down`);
  assert.ok(r.senderRestarts >= 6, `${r.senderRestarts} sender restarts`);
  assert.ok(r.collectorRestarts >= 4, `${r.collectorRestarts} collector restarts`);
  for (const [host, n] of Object.entries(r.written))
    assert.ok(n >= MINUTES * 60 * RATE * 0.9, `${host} wrote ${n} records`);
  // The guarantee: every record there, nothing else, no hole named.
  assert.equal(r.missing, 0, "records missing at the collector after resend");
  assert.equal(r.holesLeft, false, "report names no hole");
  assert.equal(r.foreign, 0, "lines at the collector no host wrote");
});
