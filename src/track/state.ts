import { accessSync, closeSync, constants, fstatSync, openSync, readSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import { ensureDir, replaceFile } from "../fs-safe.ts";
import { readText } from "../proc-io.ts";
import type { SocketFacts } from "../sources/types.ts";
import type { CarriedConnection } from "./tracker.ts";

/**
 * The state file: the connections open at the last save, so that a restart (crash, upgrade, kill -9,
 * a plain stop and start) continues them under their ids instead of logging them again. Written whole
 * to a temporary file, fsynced and renamed over the old one, so a crash leaves the old or the new file,
 * never half of one. Tagged with the boot id: socket inodes mean nothing after a reboot.
 */

const FORMAT = "ssh-outbound-logger/state";
const VERSION = 1;
/** A state file larger than this is not ours (an open connection takes about 400 bytes). */
const MAX_BYTES = 64 * 1024 * 1024;

export interface SavedState {
  savedNs: bigint;
  connections: CarriedConnection[];
  /** Not the boot that wrote it: every connection in it is gone. */
  otherBoot: boolean;
}

export function bootId(): string {
  return (readText("/proc/sys/kernel/random/boot_id") ?? "").trim();
}

export class StateStore {
  saves = 0;
  failures = 0;
  private lastError = "";

  constructor(
    readonly path: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Checks at start that the state file can be written where it is asked for (throws what went wrong). */
  prepare(): void {
    const dir = dirname(this.path);
    ensureDir(dir);
    accessSync(dir, constants.W_OK);
  }

  /**
   * The last run's state, or undefined when there is none. A file that cannot be read as ours is set
   * aside (renamed to `.corrupt-<time>`), said on stderr, and the run starts without it.
   */
  load(): SavedState | undefined {
    let text: string;
    try {
      text = readNoFollow(this.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      this.setAside(`cannot be read (${code ?? (error as Error).message})`);
      return undefined;
    }
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      if (j.format !== FORMAT || j.version !== VERSION || !Array.isArray(j.connections)) {
        throw new Error("not a state file of this version");
      }
      const connections = (j.connections as unknown[]).map(parseCarried);
      return {
        savedNs: BigInt(String(j.savedNs)),
        connections,
        otherBoot: j.bootId !== bootId(),
      };
    } catch (error) {
      this.setAside(`is not a state file we can read (${(error as Error).message})`);
      return undefined;
    }
  }

  save(connections: readonly CarriedConnection[], nowNs: bigint): void {
    const body = {
      format: FORMAT,
      version: VERSION,
      bootId: bootId(),
      pid: process.pid,
      savedNs: String(nowNs),
      connections,
    };
    try {
      replaceFile(this.path, `${JSON.stringify(body)}\n`, 0o600);
      this.saves++;
      this.lastError = "";
    } catch (error) {
      this.failures++;
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      // Said once per kind of failure; a restart meanwhile would log open connections again.
      if (code !== this.lastError) {
        this.lastError = code;
        this.warn(
          `the state file ${this.path} cannot be written (${code}); a restart now would log open connections again`,
        );
      }
    }
  }

  private setAside(why: string): void {
    const aside = `${this.path}.corrupt-${Date.now()}`;
    try {
      renameSync(this.path, aside);
      this.warn(`the state file ${this.path} ${why}; moved to ${aside}, starting without it`);
    } catch (error) {
      this.warn(
        `the state file ${this.path} ${why}, and could not be moved aside (${(error as Error).message})`,
      );
    }
  }
}

function readNoFollow(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error("not a regular file"), { code: "ENOTREG" });
    if (st.size > MAX_BYTES)
      throw Object.assign(new Error(`larger than ${MAX_BYTES} bytes`), { code: "EFBIG" });
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.toString("utf8", 0, off);
  } finally {
    closeSync(fd);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function parseCarried(v: unknown): CarriedConnection {
  if (!isObj(v) || typeof v.key !== "string" || typeof v.id !== "string" || typeof v.startNs !== "string") {
    throw new Error("a connection without key, id or start");
  }
  const s = v.socket;
  if (!isObj(s) || !isObj(s.remote) || typeof s.remote.ip !== "string" || typeof s.remote.port !== "number") {
    throw new Error(`connection ${v.id} has no remote endpoint`);
  }
  BigInt(v.startNs); // throws on a bad number
  const observed =
    v.observed === "already-open" || v.observed === "recovered" || v.observed === "while-down"
      ? v.observed
      : "live";
  const c: CarriedConnection = {
    key: v.key,
    id: v.id,
    startNs: v.startNs,
    observed,
    socket: s as unknown as SocketFacts,
  };
  if (typeof v.ownerStart === "string") c.ownerStart = v.ownerStart;
  return c;
}
