/**
 * npm run bench:protocol [-- --rounds N] [--seconds S] [--short N] [--perf-seconds S]
 * The protocol-detection overhead rows alone (bench/protocol.ts), written to bench/results/.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { fileURLToPath } from "node:url";
import { protocolRows, protocolTable } from "./protocol.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const arg = (flag: string, def: number) => {
  const i = process.argv.indexOf(flag);
  const v = i < 0 ? def : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench:protocol: ${flag} must be a positive integer, got ${process.argv[i + 1]}`);
    process.exit(2);
  }
  return v;
};
if (process.getuid?.() !== 0) {
  console.error("bench:protocol: needs root (the eBPF daemon, the kernel's BPF statistics)");
  process.exit(1);
}
const o = {
  rounds: arg("--rounds", 12),
  bulkS: arg("--seconds", 2),
  shortN: arg("--short", 1500),
  perfS: arg("--perf-seconds", 8),
};
execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
const started = new Date();
const r = await protocolRows(`${ROOT}dist/cli.js`, o);
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), Linux ${release()}, Node ${process.version}`;
const md = `# Protocol detection overhead ${started.toISOString()}\n\nMachine: ${machine}.\n${protocolTable(r, o)}\n`;
mkdirSync(`${ROOT}bench/results`, { recursive: true });
const file = `${ROOT}bench/results/protocol-${started.toISOString().replace(/[:T]/g, "-").slice(0, 16)}.md`;
writeFileSync(file, md);
console.log(md);
console.error(`bench:protocol: written ${file}`);
