/**
 * npm run soak:fleet [-- --minutes 10 --rate 10 --seed N]
 *
 * The fleet soak (test/helpers/soak.ts says what it does) with its results written to
 * bench/results/fleet-soak-DATE.md; exits 1 when a record is still missing, a hole still named, or a
 * line at the collector is not one its host wrote. Needs root, rsyslog, rsyslog-relp and logrotate.
 * CI runs a 10-minute soak beside the other tests (test/soak/fleet.soak.test.ts).
 */
import { rmSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { soak } from "../test/helpers/soak.ts";

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
const minutes = arg("minutes", 10);
const rate = arg("rate", 10);
const seed = arg("seed", Date.now() % 1_000_000);
const began = new Date();
const root = join(ROOT, "bench/results/tmp/soak");
const r = await soak({ root, minutes, rate, seed, say: (l) => console.error(`soak:fleet: ${l}`) });
rmSync(root, { recursive: true, force: true });

const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), Linux ${release()}, Node ${process.version}`;
const ok = r.missing === 0 && !r.holesLeft && r.foreign === 0;
const written = Object.entries(r.written)
  .map(([h, n]) => `${h} ${n}`)
  .join(", ");
const md = [
  `# fleet soak ${began.toISOString()}`,
  "",
  `Machine: ${machine}. Shipped sender and collector configs (deploy/rsyslog), Debian's rsyslogd with rsyslog-relp, the shipped logrotate config. Seed ${seed} (\`npm run soak:fleet -- --minutes ${minutes} --rate ${rate} --seed ${seed}\` plays the same faults).`,
  "",
  "| | |",
  "| --- | --- |",
  `| duration | ${minutes} min, ${Object.keys(r.written).length} hosts at ${rate} records/s each |`,
  `| records written | ${written} (${r.gzipped} of them in .gz files by the end) |`,
  `| rotations (each host) | ${r.rotations} (${r.rotationsWhileSenderDown} of them while the sender was down) |`,
  `| sender restarts | ${r.senderRestarts} |`,
  `| collector restarts | ${r.collectorRestarts}, ${(r.collectorDownMs / 1000).toFixed(0)} s down in all |`,
  `| lost in rsyslog (once it delivered nothing more, ${r.drainS.toFixed(0)} s after the writers stopped) | ${r.lost} |`,
  `| resend runs | ${r.resend.length}${r.resend.length ? `: ${r.resend.map((l) => l.replace(/ through .*/, "")).join("; ")}` : ""} |`,
  `| missing after resend | ${r.missing} |`,
  `| holes report names after resend | ${r.holesLeft ? "some" : "none"} |`,
  `| copies at the collector (report takes each once) | ${r.copies} |`,
  `| lines at the collector no host wrote | ${r.foreign} |`,
  "",
  "Events:",
  "",
  "```",
  ...r.log,
  "```",
  "",
].join("\n");
writeFileSync(
  join(ROOT, `bench/results/fleet-soak-${began.toISOString().slice(0, 16).replace(/[:T]/g, "-")}.md`),
  md,
);
console.log(md);
process.exit(ok ? 0 : 1);
