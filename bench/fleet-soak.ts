/**
 * npm run soak:fleet [-- --minutes 10 --rate 10 --seed N]
 *
 * Fleet delivery under an operator's bad week, compressed: two hosts write their trails at RATE
 * records a second each (the daemon's formatter and file sink, test/helpers/trail-writer.ts) through
 * the shipped rsyslog sender to the shipped collector (Debian's rsyslogd with rsyslog-relp), for
 * MINUTES minutes. Every minute, at random moments: both hosts' logs rotated by the shipped logrotate
 * config, and one fault, each kind once every four minutes in a random order: the sender restarted
 * (down 0 to 20 s), the sender down across one more rotation, the collector restarted (down 5 to
 * 40 s), or both. Then the writers stop, everything still in rsyslog's queues is waited for, the
 * collector's report names the holes, `resend` closes each on its host, and the collector's copy is
 * compared with the hosts' trails, byte for byte. Writes bench/results/fleet-soak-DATE.md; exits 1 when
 * a record is still missing or report still names a hole. Needs root, rsyslog, rsyslog-relp, logrotate.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../test/helpers/daemon.ts";
import { closeHoles, collected } from "../test/helpers/fleet.ts";
import { startRsyslogd } from "../test/helpers/rsyslogd.ts";
import { trailLines } from "../test/helpers/shipped.ts";
import { waitFor } from "../test/helpers/wait.ts";
import {
  hostDir,
  missingAtCollector,
  rotateHost,
  startCollector,
  startWriter,
  startWriterFleet,
  stopWriter,
} from "../test/helpers/writer-fleet.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const argv = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) {
    console.error(`soak:fleet: --${name} must be a positive integer, got ${argv[i + 1]}`);
    process.exit(2);
  }
  return v;
};
const MINUTES = arg("minutes", 10);
const RATE = arg("rate", 10);
const SEED = arg("seed", Date.now() % 1_000_000);

/** mulberry32: a seeded generator, so that a run's faults can be played again with --seed. */
let state = SEED;
function random(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a: number, b: number) => a + Math.floor(random() * (b - a + 1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Fault = "sender" | "collector" | "both" | "sender-rotation";
let faults: Fault[] = [];
/** A copy in a random order (Fisher-Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = between(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const root = join(ROOT, "bench/results/tmp/soak");
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const f = await startWriterFleet(root, ["web1", "db1"]);
const log: string[] = [];
const t0 = Date.now();
const say = (m: string) => {
  const line = `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  ${m}`;
  log.push(line);
  console.error(`soak:fleet: ${line}`);
};
let rotations = 0;
let senderRestarts = 0;
let collectorRestarts = 0;
let collectorDownMs = 0;

async function restartSender(downMs: number): Promise<void> {
  await f.sender.stop();
  await sleep(downMs);
  f.sender = startRsyslogd(f.root, "sender", f.senderConf);
  senderRestarts++;
}
async function restartCollector(downMs: number): Promise<void> {
  await f.collector.stop();
  await sleep(downMs);
  f.collector = await startCollector(f.root, f.collectorConf, f.port);
  collectorRestarts++;
  collectorDownMs += downMs;
}

say(`seed ${SEED}; ${f.hosts.length} hosts at ${RATE} records a second each, ${MINUTES} minutes`);
for (const h of f.hosts) startWriter(h, RATE);
for (let m = 0; m < MINUTES; m++) {
  const end = t0 + (m + 1) * 60_000;
  const rotateAt = t0 + m * 60_000 + between(2_000, 50_000);
  // Each kind of fault once every four minutes, in a random order. The sender down across a rotation
  // is the case rsyslog cannot follow by itself (imfile reopens only the file now named log.log).
  if (m % 4 === 0) faults = shuffled(["sender", "collector", "both", "sender-rotation"] as const);
  const fault = faults[m % 4] as Fault;
  const faultAt = t0 + m * 60_000 + between(2_000, 40_000);
  const steps = [
    {
      at: rotateAt,
      run: async () => {
        for (const h of f.hosts) await rotateHost(f, h);
        rotations++;
        say("rotated both logs");
      },
    },
    {
      at: faultAt,
      run: async () => {
        const sDown = between(0, 20_000);
        const cDown = between(5_000, 40_000);
        if (fault === "sender-rotation") {
          say(`sender down ${sDown} ms, both logs rotated meanwhile`);
          await f.sender.stop();
          for (const h of f.hosts) await rotateHost(f, h);
          rotations++;
          await sleep(sDown);
          f.sender = startRsyslogd(f.root, "sender", f.senderConf);
          senderRestarts++;
        } else if (fault === "sender") {
          say(`sender down ${sDown} ms`);
          await restartSender(sDown);
        } else if (fault === "collector") {
          say(`collector down ${cDown} ms`);
          await restartCollector(cDown);
        } else {
          say(`collector down ${cDown} ms, sender down ${sDown} ms within it`);
          await f.collector.stop();
          await restartSender(sDown);
          await sleep(Math.max(0, cDown - sDown));
          f.collector = await startCollector(f.root, f.collectorConf, f.port);
          collectorRestarts++;
          collectorDownMs += Math.max(cDown, sDown);
        }
        say(`${fault} back`);
      },
    },
  ].sort((a, b) => a.at - b.at);
  for (const s of steps) {
    await sleep(Math.max(0, s.at - Date.now()));
    await s.run();
  }
  await sleep(Math.max(0, end - Date.now()));
}
const written: number[] = [];
for (const h of f.hosts) written.push(await stopWriter(h));
say(`writers stopped: ${f.hosts.map((h) => `${h.name} ${h.written}`).join(", ")}`);

// What rsyslog still holds arrives (out of order: its queue's memory part before its disk part).
const drainFrom = Date.now();
let drained = true;
try {
  await waitFor("every record at the collector", () => missingAtCollector(f) === 0, 300_000);
} catch {
  drained = false;
}
const drainS = (Date.now() - drainFrom) / 1000;
const lost = missingAtCollector(f);
say(`after ${drainS.toFixed(0)} s: ${lost} record(s) not at the collector`);
const ran = closeHoles(f.inbox, (name) => f.hosts.find((h) => h.name === name)?.dir);
for (const r of ran) say(`resend: ${r}`);
let healed = true;
try {
  await waitFor("every record at the collector after resend", () => missingAtCollector(f) === 0, 120_000);
} catch {
  healed = false;
}
const after = missingAtCollector(f);
const report = runCli(["report", "--json", f.inbox]);
const holesLeft = /not in these files/.test(report.stderr);
const at = collected(f.inbox);
let copies = 0;
let foreign = 0;
for (const h of f.hosts) {
  const got = at.get(hostDir(h)) ?? [];
  const sent = new Set(trailLines(h.dir).map((l) => l.line));
  copies += got.length - new Set(got).size;
  foreign += got.filter((l) => !sent.has(l)).length;
}
await f.sender.stop();
await f.collector.stop();
const gz = f.hosts.map((h) => trailLines(h.dir).filter((l) => l.file.endsWith(".gz")).length);
say(
  `after resend: ${after} missing, holes left: ${holesLeft}, copies at the collector: ${copies}, lines not written by their host: ${foreign}`,
);

const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), Linux ${release()}, Node ${process.version}`;
const ok = healed && after === 0 && !holesLeft && foreign === 0;
const md = [
  `# fleet soak ${new Date(t0).toISOString()}`,
  "",
  `Machine: ${machine}. Shipped sender and collector configs (deploy/rsyslog), Debian's rsyslogd with rsyslog-relp, the shipped logrotate config. Seed ${SEED} (\`npm run soak:fleet -- --minutes ${MINUTES} --rate ${RATE} --seed ${SEED}\` plays the same faults).`,
  "",
  "| | |",
  "| --- | --- |",
  `| duration | ${MINUTES} min, ${f.hosts.length} hosts at ${RATE} records/s each |`,
  `| records written | ${f.hosts.map((h) => `${h.name} ${h.written}`).join(", ")} (${gz.reduce((a, b) => a + b, 0)} of them in .gz files by the end) |`,
  `| rotations (each host) | ${rotations} (${log.filter((l) => l.includes("rotated meanwhile")).length} of them while the sender was down) |`,
  `| sender restarts | ${senderRestarts} |`,
  `| collector restarts | ${collectorRestarts}, ${(collectorDownMs / 1000).toFixed(0)} s down in all |`,
  `| all delivered by rsyslog | ${drained ? `yes, ${drainS.toFixed(0)} s after the writers stopped` : `no: ${lost} record(s) still missing after ${drainS.toFixed(0)} s`} |`,
  `| resend runs | ${ran.length}${ran.length ? `: ${ran.map((r) => r.replace(/ through .*/, "")).join("; ")}` : ""} |`,
  `| missing after resend | ${after} |`,
  `| holes report names after resend | ${holesLeft ? "some" : "none"} |`,
  `| copies at the collector (report takes each once) | ${copies} |`,
  `| lines at the collector no host wrote | ${foreign} |`,
  "",
  "Events:",
  "",
  "```",
  ...log,
  "```",
  "",
].join("\n");
const out = join(
  ROOT,
  `bench/results/fleet-soak-${new Date(t0).toISOString().slice(0, 16).replace(/[:T]/g, "-")}.md`,
);
writeFileSync(out, md);
console.log(md);
rmSync(root, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
