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
