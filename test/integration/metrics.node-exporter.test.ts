import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { runClient } from "../helpers/ssh.ts";
import { freePort, SSHD, startSshd } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Issue 21: operators see the daemon's health. Debian's prometheus-node-exporter, run with its textfile
// collector on the daemon's --metrics-file directory, serves it without a scrape error.

const EXPORTER = "/usr/bin/prometheus-node-exporter";

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

const sample = (text: string, name: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

test("node_exporter's textfile collector serves the metrics file, without a scrape error, as it changes", async (t) => {
  if (!needs(t, IS_ROOT, "needs root to see every process's sockets")) return;
  if (!needs(t, existsSync(EXPORTER), "needs prometheus-node-exporter (Debian package)")) return;
  if (!needs(t, Boolean(SSHD) && hasCommand("ssh"), "needs openssh-server and openssh-client")) return;
  const dir = scratchDir("sol-metrics-");
  const file = join(dir, "ssh-outbound-logger.prom");
  const sshd = await startSshd();
  const d = startDaemon([
    "run",
    "--source",
    "procfs",
    "--ports",
    String(sshd.port),
    "--format",
    "json",
    "--metrics-file",
    file,
  ]);
  const port = await freePort();
  const exporter = spawn(
    EXPORTER,
    [
      "--collector.disable-defaults",
      "--collector.textfile",
      `--collector.textfile.directory=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let exporterLog = "";
  exporter.stderr?.on("data", (c) => {
    exporterLog += c;
  });
  try {
    await d.waitFor("monitor-started", (e) => e.event?.action === "monitor-started", 60_000);
    await waitFor("the metrics file", () => existsSync(file), 15_000);
    // node_exporter takes a moment to listen: scraped until it answers with our metrics.
    let first = "";
    const deadline = Date.now() + 15_000;
    while (!first.includes("ssh_outbound_logger_")) {
      if (Date.now() > deadline)
        throw new Error(`node_exporter never served our metrics; its log: ${exporterLog}`);
      await new Promise((r) => setTimeout(r, 100));
      first = await scrape(port).catch(() => "");
    }
    assert.equal(sample(first, "node_textfile_scrape_error"), 0, first);
    assert.equal(sample(first, 'ssh_outbound_logger_source_info{attach="",source="procfs"}'), 1, first);
    const r = await runClient([...sshd.sshArgs, "true"]);
    assert.equal(r.code, 0, r.stderr);
    await d.waitFor("the session's close", (e) => e.event?.action === "connection-closed", 30_000);
    // The last write is at stop.
    assert.equal(await d.stop(), 0);
    const last = await scrape(port);
    assert.equal(sample(last, "node_textfile_scrape_error"), 0, last);
    assert.ok(
      (sample(last, 'ssh_outbound_logger_records_total{action="connection-opened"}') ?? 0) >= 1,
      last,
    );
    assert.ok(
      (sample(last, 'ssh_outbound_logger_records_total{action="connection-closed"}') ?? 0) >= 1,
      last,
    );
    assert.equal(sample(last, "ssh_outbound_logger_open_connections"), 0, last);
    const lastRecord = sample(last, "ssh_outbound_logger_last_record_timestamp_seconds") ?? 0;
    assert.ok(Math.abs(lastRecord - Date.now() / 1000) < 120, `last record ${lastRecord}`);
  } finally {
    exporter.kill("SIGTERM");
    await d.stop();
    sshd.stop();
  }
});
