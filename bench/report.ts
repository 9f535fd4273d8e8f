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

type Login = { user: string; entry: string; communityId: string; ip: string };

/** A Community ID's shape (1:, 27 base64 characters, =) made from a number: unique per flow. */
const flowId = (n: number): string =>
  `1:${Buffer.from(String(n).padStart(20, "0")).toString("base64").slice(0, 27)}=`;

async function generate(): Promise<string[]> {
  const parts = 4;
  const per = Math.ceil(events / parts);
  const names = ["log.log-20261122", "log.log-20261123", "log.log-20261124", "log.log"];
  let t = Date.parse("2026-11-22T00:00:00Z");
  const open: {
    id: string;
    start: string;
    user: string;
    host: string;
    flow: string;
    hostname: string;
    login: Login;
  }[] = [];
  let written = 0;
  let run = { id: newId(), written: 0 };
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
        // Every connection has a flow; a third of them are made from a login that came in on an open
        // one's flow (a hop of a path, for --paths), the rest from a login through sshd from outside.
        const via = written % 3 === 1 ? open[written % open.length] : undefined;
        const user = `user${written % 37}`;
        const s = {
          id: newId(),
          start: time,
          user,
          host: `host${written % 101}.example.com`,
          flow: flowId(written),
          hostname: via ? via.host : `web${written % 20}`,
          login: via
            ? { user, entry: "sshd", communityId: via.flow, ip: "10.0.0.5" }
            : { user, entry: "sshd", communityId: flowId(-written - 1), ip: "192.0.2.9" },
        };
        open.push(s);
        rec = conn({
          id: s.id,
          action: "connection-opened",
          time,
          user: s.user,
          typedHost: s.host,
          hostname: s.hostname,
          communityId: s.flow,
          login: s.login,
        });
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
          hostname: s.hostname,
          communityId: s.flow,
          login: s.login,
        });
      }
      // Numbered as the daemon numbers its records: per run, from 1, with the run's id at the end.
      if (written % 100_000 === 0) run = { id: newId(), written: 0 };
      const r = rec as { event: Record<string, unknown>; agent?: unknown };
      r.event.sequence = ++run.written;
      r.agent = { type: "ssh-outbound-logger", ephemeral_id: run.id };
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
  ["--paths", ["--paths", ...files]],
  // One reading thread, for the gain of the default (the machine's cores, at most 4).
  ["--paths --threads 1", ["--paths", "--threads", "1", ...files]],
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
  `Machine: ${machine}. Input: ${events} events (${events / 2} sessions, up to 50 open at once, a monitor restart every 100,000 events, each with a login and its flow, a third of them hops of another's path, numbered per run as the daemon numbers them) in 4 files, 2 of them gzip, ${(bytes / 1e6).toFixed(0)} MB on disk. Output to a pipe that is read and counted.`,
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
