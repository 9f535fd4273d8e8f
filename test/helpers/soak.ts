import { rmSync } from "node:fs";
import { runCli } from "./daemon.ts";
import { closeHoles, collected } from "./fleet.ts";
import { startRsyslogd } from "./rsyslogd.ts";
import { trailLines } from "./shipped.ts";
import { waitFor } from "./wait.ts";
import {
  hostDir,
  missingAtCollector,
  rotateHost,
  startCollector,
  startWriter,
  startWriterFleet,
  stopWriter,
} from "./writer-fleet.ts";

/**
 * The fleet soak (npm run soak:fleet, and test/soak/ in CI beside the other tests): two hosts write
 * their trails at `rate` records a second each (trail-writer.ts: the daemon's formatter and file sink)
 * through the shipped rsyslog sender to the shipped collector for `minutes`. Every minute both logs are
 * rotated by the shipped logrotate config and one fault is injected, each kind once every four minutes
 * in a random order: the sender restarted (down 0 to 20 s), the collector restarted (down 5 to 40 s),
 * both, or the sender down across one more rotation (the case rsyslog cannot follow by itself: imfile
 * reopens only the file now named log.log). Then the writers stop, rsyslog's queues drain, the
 * collector's report names the holes, each `resend` it prints is run on its host, and the collector's
 * copy is compared with the hosts' trails.
 */
export interface SoakOptions {
  root: string;
  minutes: number;
  rate: number;
  seed: number;
  say?: (line: string) => void;
}

export interface SoakResult {
  written: Record<string, number>;
  /** Records in .gz files by the end. */
  gzipped: number;
  rotations: number;
  rotationsWhileSenderDown: number;
  senderRestarts: number;
  collectorRestarts: number;
  collectorDownMs: number;
  /** Records not at the collector once rsyslog had nothing more to deliver, and how long that took. */
  lost: number;
  drainS: number;
  resend: string[];
  /** After resend: records missing, whether report still names a hole. */
  missing: number;
  holesLeft: boolean;
  /** Lines at the collector more than once (report takes each once), and lines no host wrote. */
  copies: number;
  foreign: number;
  log: string[];
}

type Fault = "sender" | "collector" | "both" | "sender-rotation";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function soak(o: SoakOptions): Promise<SoakResult> {
  /** mulberry32: seeded, so that a run's faults can be played again. */
  let state = o.seed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const between = (a: number, b: number) => a + Math.floor(random() * (b - a + 1));
  const shuffled = <T>(items: readonly T[]): T[] => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = between(0, i);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  };

  rmSync(o.root, { recursive: true, force: true });
  const f = await startWriterFleet(o.root, ["web1", "db1"]);
  const log: string[] = [];
  const t0 = Date.now();
  const say = (m: string) => {
    const line = `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  ${m}`;
    log.push(line);
    o.say?.(line);
  };
  const r = {
    rotations: 0,
    rotationsWhileSenderDown: 0,
    senderRestarts: 0,
    collectorRestarts: 0,
    collectorDownMs: 0,
  };
  const senderBack = () => {
    f.sender = startRsyslogd(f.root, "sender", f.senderConf);
    r.senderRestarts++;
  };
  const collectorBack = async (downMs: number) => {
    f.collector = await startCollector(f.root, f.collectorConf, f.port);
    r.collectorRestarts++;
    r.collectorDownMs += downMs;
  };
  const rotateAll = async () => {
    for (const h of f.hosts) await rotateHost(f, h);
    r.rotations++;
  };
  const faultRun = async (fault: Fault) => {
    const sDown = between(0, 20_000);
    const cDown = between(5_000, 40_000);
    if (fault === "sender-rotation") {
      say(`sender down ${sDown} ms, both logs rotated meanwhile`);
      await f.sender.stop();
      await rotateAll();
      r.rotationsWhileSenderDown++;
      await sleep(sDown);
      senderBack();
    } else if (fault === "sender") {
      say(`sender down ${sDown} ms`);
      await f.sender.stop();
      await sleep(sDown);
      senderBack();
    } else if (fault === "collector") {
      say(`collector down ${cDown} ms`);
      await f.collector.stop();
      await sleep(cDown);
      await collectorBack(cDown);
    } else {
      say(`collector down ${cDown} ms, sender down ${sDown} ms within it`);
      await f.collector.stop();
      await f.sender.stop();
      await sleep(sDown);
      senderBack();
      await sleep(Math.max(0, cDown - sDown));
      await collectorBack(Math.max(cDown, sDown));
    }
    say(`${fault} back`);
  };

  try {
    say(`seed ${o.seed}; ${f.hosts.length} hosts at ${o.rate} records a second each, ${o.minutes} minutes`);
    for (const h of f.hosts) startWriter(h, o.rate);
    let faults: Fault[] = [];
    for (let m = 0; m < o.minutes; m++) {
      if (m % 4 === 0) faults = shuffled<Fault>(["sender", "collector", "both", "sender-rotation"]);
      const fault = faults[m % 4] as Fault;
      const start = t0 + m * 60_000;
      const steps = [
        {
          at: start + between(2_000, 50_000),
          run: async () => {
            await rotateAll();
            say("rotated both logs");
          },
        },
        { at: start + between(2_000, 40_000), run: () => faultRun(fault) },
      ].sort((a, b) => a.at - b.at);
      for (const s of steps) {
        await sleep(Math.max(0, s.at - Date.now()));
        await s.run();
      }
      await sleep(Math.max(0, start + 60_000 - Date.now()));
    }
    for (const h of f.hosts) await stopWriter(h);
    say(`writers stopped: ${f.hosts.map((h) => `${h.name} ${h.written}`).join(", ")}`);

    // What rsyslog still holds arrives, out of order (its queue's memory part before its disk part):
    // wait until nothing is missing, or nothing more arrived for 30 s (then it is lost), at most 300 s.
    const drainFrom = Date.now();
    let last = { missing: missingAtCollector(f), at: Date.now() };
    try {
      await waitFor(
        "rsyslog delivering nothing more",
        () => {
          const now = missingAtCollector(f);
          if (now !== last.missing) last = { missing: now, at: Date.now() };
          return now === 0 || Date.now() - last.at >= 30_000;
        },
        300_000,
      );
    } catch {
      // what is missing after 300 s is counted as lost
    }
    const drainS = (Date.now() - drainFrom) / 1000;
    const lost = missingAtCollector(f);
    say(`after ${drainS.toFixed(0)} s: ${lost} record(s) not at the collector`);
    const resend = closeHoles(f.inbox, (name) => f.hosts.find((h) => h.name === name)?.dir);
    for (const line of resend) say(`resend: ${line}`);
    try {
      await waitFor("every record at the collector after resend", () => missingAtCollector(f) === 0, 120_000);
    } catch {
      // counted below
    }
    const missing = missingAtCollector(f);
    const holesLeft = /not in these files/.test(runCli(["report", "--json", f.inbox]).stderr);
    const at = collected(f.inbox);
    let copies = 0;
    let foreign = 0;
    for (const h of f.hosts) {
      const got = at.get(hostDir(h)) ?? [];
      const sent = new Set(trailLines(h.dir).map((l) => l.line));
      copies += got.length - new Set(got).size;
      foreign += got.filter((l) => !sent.has(l)).length;
    }
    const gzipped = f.hosts.reduce(
      (n, h) => n + trailLines(h.dir).filter((l) => l.file.endsWith(".gz")).length,
      0,
    );
    say(
      `after resend: ${missing} missing, holes left: ${holesLeft}, copies: ${copies}, lines no host wrote: ${foreign}`,
    );
    return {
      written: Object.fromEntries(f.hosts.map((h) => [h.name, h.written])),
      gzipped,
      ...r,
      lost,
      drainS,
      resend,
      missing,
      holesLeft,
      copies,
      foreign,
      log,
    };
  } finally {
    for (const h of f.hosts) h.writer?.kill("SIGKILL");
    await f.sender.stop();
    await f.collector.stop();
  }
}
