import { Command } from "@commander-js/extra-typings";
import { v7 as uuidv7 } from "uuid";
import { type Config, resolveConfig } from "../config.ts";
import { stderrDiagnostics } from "../diagnostics.ts";
import { badPathError } from "../errors.ts";
import { formatJson, type RunSequence } from "../format/json.ts";
import type { LogRecord } from "../format/record.ts";
import { formatText } from "../format/text.ts";
import { hostIdentity } from "../host.ts";
import { MetricsFile } from "../metrics.ts";
import { Monitor } from "../monitor.ts";
import { fileSink, type Recovery, type Sink, stdoutSink } from "../sinks/sink.ts";
import { sockDiag } from "../sources/procfs/sock-diag.ts";
import { selectSource } from "../sources/select.ts";
import type { Diagnostics } from "../sources/types.ts";
import { ServiceNotifier } from "../systemd.ts";
import { StateStore } from "../track/state.ts";

export function runCommand(): Command {
  return new Command("run")
    .description("watch outbound SSH connections and write one record per open, close and failed attempt")
    .option(
      "-i, --interval <ms>",
      "procfs polling interval in milliseconds (env SSH_OUTBOUND_INTERVAL, SLEEP; default 50)",
    )
    .option(
      "--ports <list>",
      "remote TCP ports that count as SSH, comma-separated (env SSH_OUTBOUND_PORTS; default 22)",
    )
    .option(
      "--clients <list>",
      "process names whose connections count as SSH on any port (env SSH_OUTBOUND_CLIENTS; default ssh,scp,sftp,sshfs,autossh,dbclient)",
    )
    .option(
      "-f, --format <format>",
      "json or text (env SSH_OUTBOUND_FORMAT; default text on a terminal, else json)",
    )
    .option(
      "-o, --output <file>",
      "append events to this file instead of stdout; reopened on SIGHUP (env SSH_OUTBOUND_OUTPUT)",
    )
    .option("-s, --source <source>", "auto, ebpf or procfs (env SSH_OUTBOUND_SOURCE; default auto)")
    .option(
      "--pid-file <file>",
      "write our pid here, for logrotate without systemd (env SSH_OUTBOUND_PID_FILE)",
    )
    .option(
      "--stats-interval <s>",
      "seconds between stats lines on stderr, 0 for none (env SSH_OUTBOUND_STATS_INTERVAL; default 300)",
    )
    .option(
      "--state-file <file>",
      "keep open connections here so a restart continues them under their ids (env SSH_OUTBOUND_STATE_FILE; default none)",
    )
    .option(
      "--max-pending <n>",
      "records held in memory while the output cannot be written (env SSH_OUTBOUND_MAX_PENDING; default 10000)",
    )
    .option(
      "--user-rate <n>",
      "connections a second each user may make before the rest are counted in connections-suppressed records instead of written one by one; 0 for no limit (env SSH_OUTBOUND_USER_RATE; default 20, bursts of 5 s)",
    )
    .option(
      "--metrics-file <file>",
      "write the daemon's health here every 10 s, in Prometheus text format for node_exporter's textfile collector (a .prom path), auto for /var/lib/prometheus/node-exporter/ when it exists, or none (env SSH_OUTBOUND_METRICS_FILE; default none)",
    )
    .option(
      "--netns <scope>",
      "all: the connections of every network namespace on the host (containers included), each with its namespace; own: only the daemon's own namespace's (env SSH_OUTBOUND_NETNS; default all)",
    )
    .option(
      "--protocol <on|packets|off>",
      "eBPF: also recognise SSH by its first bytes (the identification string), on any port and from any program, through TCP's tracepoints (on; the packet hooks where the kernel lacks them); packets: through cgroup_skb hooks that see the bytes as sent, for every IP packet, at a higher cost; off: port and client name alone choose (env SSH_OUTBOUND_PROTOCOL; default on)",
    )
    .option(
      "--pin <dir>",
      "bpffs directory where the eBPF probe stays pinned after the daemon, capturing while it is down (taken over at the next start; `unload` removes it); none to unload it at exit (env SSH_OUTBOUND_PIN; default /sys/fs/bpf/ssh-outbound-logger)",
    )
    .addHelpText(
      "after",
      `
Examples:
  ssh-outbound-logger run                              text on a terminal, JSON lines when piped
  ssh-outbound-logger run -o /var/log/ssh-outbound-logger/log.log
  ssh-outbound-logger run --ports 22,2222 --source procfs --interval 250
  SLEEP=100 ssh-outbound-logger run --format json | jq .destination`,
    )
    .action(async (flags) => {
      const config = resolveConfig(flags);
      await runMonitor(config, stderrDiagnostics());
    });
}

export async function runMonitor(config: Config, diag: Diagnostics): Promise<void> {
  const host = hostIdentity();
  const run: RunSequence = { id: uuidv7(), written: 0 };
  const format =
    config.format === "json"
      ? (r: LogRecord) => formatJson(r, { hostname: host.hostname, hostId: host.id }, run)
      : (r: LogRecord) => formatText(r);
  const sink = (onRecovered: (r: Recovery) => void): Sink => {
    const opts = { maxPending: config.maxPending, warn: (m: string) => diag.warn(m), onRecovered };
    return config.output ? fileSink(config.output, opts) : stdoutSink(opts);
  };
  if (!config.output) blockingStdout(diag);
  const state = config.stateFile ? openState(config.stateFile, diag) : undefined;
  const source = selectSource(config, diag);
  let monitor: Monitor | undefined;
  const end = (reason: string, code: number) => {
    process.exitCode = code;
    const m = monitor;
    if (!m) process.exit(code);
    void m.stop(reason).finally(() => process.exit(code));
  };
  // Last resort: whatever escapes every guard still ends the run with a monitor-stopped that says why.
  process.on("uncaughtException", (error) => {
    diag.warn(`uncaught exception: ${error.stack ?? error.message}`);
    end(`uncaught exception: ${error.message}`, 1);
  });
  process.on("unhandledRejection", (error) => {
    diag.warn(`unhandled rejection: ${(error as Error)?.stack ?? String(error)}`);
    end(`unhandled rejection: ${(error as Error)?.message ?? String(error)}`, 1);
  });
  const metrics = config.metricsFile ? new MetricsFile(config.metricsFile, diag) : undefined;
  monitor = new Monitor({
    config,
    source,
    format,
    sink,
    diag,
    state,
    metrics,
    onFatal: (why) => end(why, 1),
  });
  const m = monitor;
  const notifier = ServiceNotifier.fromEnv(diag);
  let firstSignalAt = 0;
  const stop = (signal: string) => {
    // Ctrl-C reaches both npm and us, and npm forwards it: a repeat within a second is the same request.
    // A later one means the orderly stop is stuck, and the operator wants out now.
    if (firstSignalAt !== 0) {
      if (Date.now() - firstSignalAt < 1000) return;
      diag.warn(`${signal} again while stopping: exiting without waiting`);
      process.exit(1);
    }
    firstSignalAt = Date.now();
    notifier?.stopping();
    void m.stop(signal).then(() => process.exit(process.exitCode ?? 0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    m.reopen();
    diag.info("SIGHUP: output reopened");
  });
  await m.start();
  notifier?.ready(`watching: source ${source.name}`);
}

/**
 * Standard output written synchronously, as a file is: blocking, so that a reader a page behind is
 * waited for only as long as it lags (native/blocking.c says why Node's non-blocking pipe costs 100 ms
 * stops). Without the addon, Node's default stays.
 */
function blockingStdout(diag: Diagnostics): void {
  try {
    sockDiag()?.blocking(1);
  } catch (error) {
    diag.warn(`standard output stays non-blocking: ${(error as Error).message}`);
  }
}

/** The state file's directory must exist or be creatable now: a bad --state-file is exit 2 at start. */
function openState(path: string, diag: Diagnostics): StateStore {
  const store = new StateStore(path, (msg) => diag.warn(msg));
  try {
    store.prepare();
  } catch (error) {
    throw badPathError("--state-file", path, "its directory cannot be created or written", error);
  }
  return store;
}
