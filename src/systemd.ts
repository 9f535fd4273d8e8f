import { sockDiag, sockDiagLoadError } from "./sources/procfs/sock-diag.ts";
import type { Diagnostics } from "./sources/types.ts";

/**
 * The systemd service protocol (sd_notify(3)), when systemd started us with Type=notify: READY=1 once
 * the source captures (the unit is "active" only then), STOPPING=1 at stop, and WATCHDOG=1 pings from
 * the event loop at half the unit's WatchdogSec. A loop stalled past WatchdogSec sends no ping, and
 * systemd kills and restarts the daemon (Restart=on-failure); the state file keeps the ids of the
 * connections that stay open. Nothing happens outside systemd (no NOTIFY_SOCKET).
 */
export class ServiceNotifier {
  private timer: NodeJS.Timeout | undefined;
  pings = 0;

  private constructor(
    private readonly socket: string,
    private readonly watchdogMs: number | undefined,
    private readonly send: (socket: string, message: string) => void,
    private readonly diag: Diagnostics,
  ) {}

  /** Undefined when not started by systemd with a notify socket. */
  static fromEnv(
    diag: Diagnostics,
    env: NodeJS.ProcessEnv = process.env,
    send?: (socket: string, message: string) => void,
  ): ServiceNotifier | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const watchdogMs = Number.isFinite(usec) && usec > 0 && forUs ? usec / 1000 : undefined;
    const sender =
      send ??
      ((path: string, message: string) => {
        const addon = sockDiag();
        if (!addon)
          throw new Error(`the sock_diag addon, which sends it, is not loaded: ${sockDiagLoadError()}`);
        addon.notify(path, message);
      });
    return new ServiceNotifier(socket, watchdogMs, sender, diag);
  }

  /** The source captures: the unit is started. Watchdog pings begin. */
  ready(status: string): void {
    this.say(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
    if (this.watchdogMs !== undefined) {
      this.timer = setInterval(() => {
        this.pings++;
        this.say("WATCHDOG=1");
      }, this.watchdogMs / 2);
      this.timer.unref();
    }
  }

  stopping(): void {
    if (this.timer) clearInterval(this.timer);
    this.say("STOPPING=1");
  }

  private say(message: string): void {
    try {
      this.send(this.socket, message);
    } catch (error) {
      this.diag.once("sd-notify", `cannot notify systemd at ${this.socket}: ${(error as Error).message}`);
    }
  }
}
