/**
 * npm run bench:fleet [-- --records N]
 *
 * The shipped rsyslog configs (deploy/rsyslog/) on loopback, with Debian's rsyslogd and rsyslog-relp:
 * one sender reading one file of N records (N/2 sessions) (default 100,000) of the benchmark's record size (2,654
 * bytes, `npm run bench`'s median) from 20 hosts, one collector.
 * 1. Live: the collector up; records per second from the sender's start until the collector's files
 *    hold every byte.
 * 2. Outage: the collector down while the sender reads another N records into its disk queue (bytes
 *    per record on disk, so how long the queue's 2 GiB hold); then the collector up: records per
 *    second while the queue drains.
 * 3. `report --by host` and `report` over the collector's directory (2N records), compiled CLI.
 * Writes bench/results/fleet-DATE.md. Needs root (rsyslogd's work directories) and the packages.
 */
import { execFileSync } from "node:child_process";
import { createWriteStream, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { v7 as uuidv7 } from "uuid";
import { conn, newId } from "../test/helpers/records.ts";
import { startRsyslogd } from "../test/helpers/rsyslogd.ts";
import { shippedWith } from "../test/helpers/shipped.ts";
import { freePort, listening } from "../test/helpers/sshd.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { timeReport } from "./measure.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const argv = process.argv.slice(2);
const at = argv.indexOf("--records");
const N = at >= 0 ? Number(argv[at + 1]) : 100_000;
if (!Number.isInteger(N) || N < 100) {
  console.error(`bench:fleet: --records must be an integer >= 100, got ${argv[at + 1]}`);
  process.exit(2);
}
const RECORD_BYTES = 2_654;
const HOSTS = 20;

const dir = join(ROOT, "bench/results/tmp/fleet");
rmSync(dir, { recursive: true, force: true });
const inbox = join(dir, "inbox");
for (const d of [inbox, join(dir, "cw"), join(dir, "sw")]) mkdirSync(d, { recursive: true });

/** N records of 20 hosts, each padded to RECORD_BYTES; the total bytes written. */
async function generate(path: string, offset: number): Promise<number> {
  const out = createWriteStream(path);
  const runs = Array.from({ length: HOSTS }, () => ({ id: uuidv7(), seq: 0 }));
  let bytes = 0;
  let id = "";
  let start = "";
  for (let n = 0; n < N; n++) {
    // A session's open and close, one after the other, host after host.
    const h = Math.floor(n / 2) % HOSTS;
    const run = runs[h] as { id: string; seq: number };
    const time = new Date(Date.parse("2026-11-26T00:00:00Z") + (offset + n) * 10)
      .toISOString()
      .replace("Z", "000000Z");
    if (n % 2 === 0) [id, start] = [newId(), time];
    const action = n % 2 === 0 ? "connection-opened" : "connection-closed";
    const r = conn({ id, action, time, start, hostname: `host${h}` });
    (r.host as Record<string, unknown>).id = `${String(h).padStart(2, "0")}${"a".repeat(30)}`;
    (r.event as Record<string, unknown>).sequence = ++run.seq;
    r.agent = { type: "ssh-outbound-logger", ephemeral_id: run.id };
    const proc = r.process as { args: string[] };
    const bare = Buffer.byteLength(`${JSON.stringify(r)}\n`);
    proc.args.push("x".repeat(Math.max(0, RECORD_BYTES - bare - 3)));
    const line = `${JSON.stringify(r)}\n`;
    bytes += Buffer.byteLength(line);
    if (!out.write(line)) await new Promise<void>((res) => out.once("drain", () => res()));
  }
  await new Promise<void>((res) => out.end(res));
  return bytes;
}

function bytesIn(path: string): number {
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    total += e.isDirectory() ? bytesIn(p) : statSync(p).size;
  }
  return total;
}

const port = await freePort();
const collectorConf = shippedWith("rsyslog/collector.conf", [
  ["/srv/ssh-audit", inbox],
  ['port="2514"', `port="${port}" address="127.0.0.1"`],
]);
writeFileSync(join(dir, "collector.inc"), collectorConf);
const collectorMain = `global(workDirectory="${join(dir, "cw")}")\ninclude(file="${join(dir, "collector.inc")}")\n`;
const sources = [join(dir, "a.log"), join(dir, "b.log")];
const sender = shippedWith("rsyslog/sender.conf", [
  ['target="collector.example.invalid"', 'target="127.0.0.1"'],
  ['port="2514"', `port="${port}"`],
]);
const input = sender.split("\n").find((l) => l.startsWith('input(type="imfile"')) as string;
writeFileSync(
  join(dir, "sender.inc"),
  sender.replace(
    input,
    sources.map((s) => input.replace("/var/log/ssh-outbound-logger/log.log", s)).join("\n"),
  ),
);
const senderMain = `global(workDirectory="${join(dir, "sw")}")\ninclude(file="${join(dir, "sender.inc")}")\n`;

const startCollector = async () => {
  const c = startRsyslogd(dir, "collector", collectorMain);
  await waitFor("the collector", () => listening(port, c.child.pid), 10_000);
  return c;
};

// 1. Live.
const bytesA = await generate(sources[0] as string, 0);
let collector = await startCollector();
let t0 = performance.now();
const s1 = startRsyslogd(dir, "sender", senderMain);
await waitFor("every record of a.log at the collector", () => bytesIn(inbox) >= bytesA, 600_000);
const liveSeconds = (performance.now() - t0) / 1000;
console.error(`bench:fleet: live: ${N} records in ${liveSeconds.toFixed(1)} s`);

// 2. Outage: the sender queues b.log on disk; then the collector comes back.
await collector.stop();
const bytesB = await generate(sources[1] as string, N);
const queueDir = join(dir, "sw");
let last = -1;
let stableSince = performance.now();
await waitFor(
  "the disk queue to stop growing",
  () => {
    const size = bytesIn(queueDir);
    if (size !== last) {
      last = size;
      stableSince = performance.now();
    }
    return performance.now() - stableSince > 3_000 && size > 0;
  },
  600_000,
);
const queued = last;
console.error(`bench:fleet: outage: ${queued} bytes in the sender's work directory for ${N} records`);
t0 = performance.now();
collector = await startCollector();
await waitFor("the queue drained to the collector", () => bytesIn(inbox) >= bytesA + bytesB, 600_000);
const drainSeconds = (performance.now() - t0) / 1000;
console.error(`bench:fleet: drain: ${N} records in ${drainSeconds.toFixed(1)} s`);
await s1.stop();
await collector.stop();

// 3. report over the collector's directory.
execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
const files = readdirSync(inbox, { recursive: true }).length;
const byHost = await timeReport(["--by", "host", inbox]);
const table = await timeReport([inbox]);

const perRecord = queued / N;
const holdsRecords = (2 * 1024 ** 3) / perRecord;
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), Linux ${release()}, Node ${process.version}`;
const md = [
  `# fleet benchmark ${new Date().toISOString()}`,
  "",
  `Machine: ${machine}. rsyslogd ${/\d+\.\d+\.\d+/.exec(execFileSync("rsyslogd", ["-v"]).toString())?.[0]} with the shipped configs (RELP on loopback), one sender, one collector. Records: ${N} per phase, ${RECORD_BYTES} bytes each, from ${HOSTS} hosts.`,
  "",
  "| measure | value |",
  "| --- | --- |",
  `| live: records per second through the collector | ${Math.round(N / liveSeconds)} (${N} in ${liveSeconds.toFixed(1)} s) |`,
  `| outage: bytes in the sender's disk queue per record | ${perRecord.toFixed(0)} (${(queued / 1e6).toFixed(0)} MB for ${N}) |`,
  `| outage: records the 2 GiB queue holds | ${Math.round(holdsRecords)} |`,
  `| drain after the outage: records per second | ${Math.round(N / drainSeconds)} (${N} in ${drainSeconds.toFixed(1)} s) |`,
  `| \`report --by host\` over the collector's ${files - HOSTS} files (${2 * N} records, ${((bytesA + bytesB) / 1e6).toFixed(0)} MB) | ${byHost.seconds.toFixed(2)} s, peak RSS ${byHost.peakMb.toFixed(0)} MB |`,
  `| \`report\` (table) over the same | ${table.seconds.toFixed(2)} s, peak RSS ${table.peakMb.toFixed(0)} MB |`,
  "",
].join("\n");
const out = join(
  ROOT,
  `bench/results/fleet-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-")}.md`,
);
writeFileSync(out, md);
console.log(md);
rmSync(dir, { recursive: true, force: true });
