import { listDir, PROC, readLink } from "../proc-io.ts";

/** `pipe:[N]` or `socket:[N]`: the object a descriptor is, shared by whoever holds either end's number. */
function stdioObjects(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of [0, 1]) {
    const link = readLink(`${PROC}/${pid}/fd/${fd}`);
    if (link?.startsWith("pipe:[")) out.add(link);
  }
  return out;
}

/**
 * True when `pid` is the ProxyCommand of the SSH client `clientPid`: OpenSSH runs it as its own child
 * (`exec` of the command through the shell) with stdin and stdout on two pipes whose other ends the
 * client keeps, and the session's bytes go through them. A child that merely inherited the client's
 * terminal shares no pipe with it. OpenSSH 9.2 uses pipes here; a socketpair is not recognised.
 */
export function isProxyOf(pid: number, clientPid: number): boolean {
  const mine = stdioObjects(pid);
  if (mine.size === 0) return false;
  const dir = `${PROC}/${clientPid}/fd`;
  for (const name of listDir(dir).names ?? []) {
    const link = readLink(`${dir}/${name}`);
    if (link !== undefined && mine.has(link)) return true;
  }
  return false;
}
