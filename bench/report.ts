/**
 * npm run bench:report [-- --events N]
 *
 * Generates a log of N events (default 1,000,000: opened and closed records of N/2 sessions, up to 50
 * open at a time, a monitor restart every 100,000 events, split like logrotate would: two compressed
 * rotated files, one plain, the live one) and times `report` over it with the compiled CLI, sampling
 * the process's peak RSS. Writes bench/results/report-DATE.md.
 */
import { createWriteStream, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { conn, monitor, newId } from "../test/helpers/records.ts";
import { timeReport } from "./measure.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const argv = process.argv.slice(2);
const i = argv.indexOf("--events");
const events = i >= 0 ? Number(argv[i + 1]) : 1_000_000;
if (!Number.isInteger(events) || events < 10) {
  console.error(`bench:report: --events must be an integer >= 10, got ${argv[i + 1]}`);
  process.exit(2);
}

const dir = join(ROOT, "bench/results/tmp/report");
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

async function generate(): Promise<string[]> {
  const parts = 4;
  const per = Math.ceil(events / parts);
  const names = ["log.log-20261122", "log.log-20261123", "log.log-20261124", "log.log"];
  let t = Date.parse("2026-11-22T00:00:00Z");
  const open: { id: string; start: string; user: string; host: string }[] = [];
  let written = 0;
  const files: string[] = [];
  for (const [k, name] of names.entries()) {
    const path = join(dir, name);
    const out = createWriteStream(path);
    for (let n = 0; n < per && written < events; n++, written++) {
      t += 137;
      const time = new Date(t).toISOString().replace("Z", "000000Z");
      let rec: unknown;
      if (written % 100_000 === 0) rec = monitor("monitor-started", time);
      else if (open.length < 50 && (open.length === 0 || written % 3 !== 0)) {
        const s = {
          id: newId(),
          start: time,
          user: `user${written % 37}`,
          host: `host${written % 101}.example.com`,
        };
        open.push(s);
        rec = conn({ id: s.id, action: "connection-opened", time, user: s.user, typedHost: s.host });
      } else {
        const s = open.splice(written % open.length, 1)[0] as (typeof open)[number];
        rec = conn({
          id: s.id,
          action: written % 97 === 0 ? "connection-failed" : "connection-closed",
          time,
          start: s.start,
          user: s.user,
          typedHost: s.host,
          sent: written,
          received: written * 3,
        });
      }
      if (!out.write(`${JSON.stringify(rec)}\n`))
        await new Promise<void>((r) => out.once("drain", () => r()));
    }
    await new Promise<void>((r) => out.end(r));
    if (k < 2) {
      writeFileSync(`${path}.gz`, gzipSync(readFileSync(path)));
      rmSync(path);
      files.push(`${path}.gz`);
    } else files.push(path);
  }
  return files;
}

const g0 = performance.now();
const files = await generate();
const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
console.error(
  `bench:report: ${events} events in ${files.length} files (${(bytes / 1e6).toFixed(0)} MB on disk) generated in ${((performance.now() - g0) / 1000).toFixed(1)} s`,
);
const { execFileSync } = await import("node:child_process");
execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
const runs: [string, string[]][] = [
  ["table", files],
  ["--json", ["--json", ...files]],
  ["--by user", ["--by", "user", ...files]],
  ["--since 1d --user user7", ["--since", "2026-11-24T12:00:00Z", "--user", "user7", ...files]],
];
const rows: string[] = [];
for (const [label, args] of runs) {
  const r = await timeReport(args);
  console.error(
    `bench:report: ${label}: ${r.seconds.toFixed(2)} s, peak RSS ${r.peakMb.toFixed(0)} MB, ${r.lines} lines out`,
  );
  rows.push(`| \`report ${label}\` | ${r.seconds.toFixed(2)} | ${r.peakMb.toFixed(0)} | ${r.lines} |`);
}
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), Linux ${release()}, Node ${process.version}`;
const md = [
  `# report benchmark ${new Date().toISOString()}`,
  "",
  `Machine: ${machine}. Input: ${events} events (${events / 2} sessions, up to 50 open at once, a monitor restart every 100,000 events) in 4 files, 2 of them gzip, ${(bytes / 1e6).toFixed(0)} MB on disk. Output to a pipe that is read and counted.`,
  "",
  "| command | seconds | peak RSS, MB | lines out |",
  "| --- | --- | --- | --- |",
  ...rows,
  "",
].join("\n");
writeFileSync(
  join(ROOT, `bench/results/report-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-")}.md`),
  md,
);
console.log(md);
if (!argv.includes("--keep")) rmSync(dir, { recursive: true, force: true });
