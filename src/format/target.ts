import { endpoint } from "./endpoint.ts";

/** The parts of a typed target that its rendering needs (the enricher's SshTarget, or report's record). */
export interface TargetParts {
  user?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
}

/**
 * The typed target as one string, `user@host:port`, with an IPv6 host in brackets so the port cannot
 * be read as part of the address. The one rendering used by the text format, `report` and `list`.
 */
export function typedTarget(t: TargetParts): string {
  return `${t.user ? `${t.user}@` : ""}${endpoint(t.host ?? "?", t.port || undefined)}`;
}

/**
 * A target's tunnels as one list, `L:…`, `R:…`, `D:…`, then `W:host:port` (-W): the one rendering of the
 * text format and the report's FORWARDS column.
 */
export function forwardsList(
  forwards:
    | { local?: readonly string[]; remote?: readonly string[]; dynamic?: readonly string[] }
    | undefined,
  stdioForward: string | undefined,
): string[] {
  return [
    ...(forwards?.local ?? []).map((x) => `L:${x}`),
    ...(forwards?.remote ?? []).map((x) => `R:${x}`),
    ...(forwards?.dynamic ?? []).map((x) => `D:${x}`),
    ...(stdioForward !== undefined ? [`W:${stdioForward}`] : []),
  ];
}
