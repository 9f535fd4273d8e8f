import { LoggerError } from "../errors.ts";

/**
 * Stable codes for what goes wrong in a source; `doctor` and the monitor choose what to say by code,
 * never by the wording of a message.
 */
export type SourceErrorCode =
  /** The eBPF source cannot run on this host: a missing capability or kernel interface. */
  | "ERR_NO_BPF_CAPABILITIES"
  | "ERR_NO_TRACEFS"
  | "ERR_NO_BTF"
  /** The probe addon was not built (no clang or libbpf-dev at npm ci) or cannot load (no libbpf1). */
  | "ERR_PROBE_UNAVAILABLE"
  /** The kernel refused to load or attach the BPF program, or its ring buffer failed for good. */
  | "ERR_PROBE_ATTACH"
  | "ERR_PROBE_EXITED"
  /** A netlink dump failed, was cut, or timed out: that tick knows nothing. */
  | "ERR_NETLINK"
  /** Anything else thrown inside a tick or callback. */
  | "ERR_SOURCE_FAULT";

export class SourceError extends LoggerError {
  declare readonly code: SourceErrorCode;

  constructor(code: SourceErrorCode, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = "SourceError";
  }
}

/** The error as a SourceError: kept when it is one, wrapped (code ERR_SOURCE_FAULT, cause kept) when not. */
export function asSourceError(error: unknown, fallback: SourceErrorCode = "ERR_SOURCE_FAULT"): SourceError {
  if (error instanceof SourceError) return error;
  const e = error as NodeJS.ErrnoException;
  const message = e?.message ?? String(error);
  const prefix = e?.code && !message.startsWith(e.code) ? `${e.code}: ` : "";
  return new SourceError(fallback, `${prefix}${message}`, error);
}
