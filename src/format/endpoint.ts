/**
 * A host as it is written before a port: an IPv6 address in brackets, so that the port cannot be read
 * as part of the address (RFC 3986's form, as ssh, curl and browsers take it).
 */
export function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * An endpoint as `ip:port`, `[ipv6]:port`: the one rendering of an address and port, in the text format,
 * the report's table, `--by` and what `--target` matches.
 */
export function endpoint(ip: string, port: number | undefined): string {
  return port === undefined ? bracketed(ip) : `${bracketed(ip)}:${port}`;
}

/** A host or address as typed, brackets taken off (`[2001:db8::1]` is the address 2001:db8::1). */
export function unbracketed(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
