/**
 * A host's trail without the daemon's capture, for the fleet's long runs (the soak, a long collector
 * outage), where thousands of records are needed and real ssh sessions would make the run about ssh
 * rather than delivery: connection records as the daemon makes them (formatJson, numbered in one run,
 * the host's name and machine id), written through the daemon's own file sink, which reopens its file
 * on SIGHUP as the daemon does after logrotate. It writes its pid file like the daemon.
 *
 * node --import tsx test/helpers/trail-writer.ts OUT PIDFILE HOSTNAME MACHINEID RATE [COUNT]
 *
 * RATE records a second (0: as fast as it can), until COUNT records or SIGTERM; then it prints the
 * number it wrote on stdout and exits 0.
 */
import { writeFileSync } from "node:fs";
import { v7 as uuidv7 } from "uuid";
import { formatJson, type RunSequence } from "../../src/format/json.ts";
import { fileSink } from "../../src/sinks/sink.ts";
import { enrichedConnection } from "./enriched.ts";

const [out, pidFile, hostname, hostId, rateArg, countArg] = process.argv.slice(2);
if (!out || !pidFile || !hostname || !hostId || rateArg === undefined) {
  console.error("usage: trail-writer OUT PIDFILE HOSTNAME MACHINEID RATE [COUNT]");
  process.exit(2);
}
const rate = Number(rateArg);
const count = countArg === undefined ? Number.POSITIVE_INFINITY : Number(countArg);
const sink = fileSink(out, { warn: (m) => process.stderr.write(`trail-writer: ${m}\n`) });
const run: RunSequence = { id: uuidv7(), written: 0 };
const ctx = { hostname, hostId };
writeFileSync(pidFile, `${process.pid}\n`);

let open: { id: string; startNs: bigint } | undefined;
/** The next record: a connection's open, then its close. */
function next(): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  if (open === undefined) {
    open = { id: uuidv7(), startNs: now };
    return formatJson(enrichedConnection(open.id, "opened", { timeNs: now, startNs: now }), ctx, run);
  }
  const { id, startNs } = open;
  open = undefined;
  return formatJson(enrichedConnection(id, "closed", { timeNs: now, startNs, endNs: now }), ctx, run);
}

let stopping = false;
const began = Date.now();
const done = new Promise<void>((resolve) => {
  const tick = (): void => {
    const due = rate > 0 ? Math.min(count, Math.floor(((Date.now() - began) * rate) / 1000)) : count;
    // At most 500 at a time, so that SIGHUP and SIGTERM are taken between batches.
    for (let n = 0; n < 500 && run.written < due; n++) sink.write(next());
    if (stopping || run.written >= count) resolve();
    else setTimeout(tick, rate > 0 ? 20 : 0);
  };
  tick();
});
process.on("SIGHUP", () => sink.reopen());
process.on("SIGTERM", () => {
  stopping = true;
});
await done;
await sink.end();
process.stdout.write(`${run.written}\n`);
