import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";
import { parseProcNet } from "../../src/sources/procfs/proc-net.ts";
import {
  dumpMode,
  listSockets,
  lookupSocket,
  sockDiag,
  sockDiagLoadError,
  stateMask,
} from "../../src/sources/procfs/sock-diag.ts";
import { nothingMoved, type TcpCounters, tcpCounters } from "../../src/sources/procfs/tcp-counters.ts";
import { needs } from "../helpers/ci.ts";
import { waitFor } from "../helpers/wait.ts";

// The real kernel: what netlink returns, with its in-kernel port filter, against /proc/net/tcp{,6}.
const servers: Server[] = [];
const clients: Socket[] = [];
after(() => {
  for (const c of clients) c.destroy();
  for (const s of servers) s.close();
});

async function listen(host: string): Promise<number> {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, r));
  return (s.address() as { port: number }).port;
}

test("netlink lists exactly the sockets to the filtered ports that /proc/net/tcp shows", async (t) => {
  if (!needs(t, sockDiag() !== null, `the sock_diag addon is built by npm ci: ${sockDiagLoadError()}`))
    return;
  const [a, b, c] = [await listen("127.0.0.1"), await listen("::1"), await listen("127.0.0.1")];
  for (const [port, host] of [
    [a, "127.0.0.1"],
    [a, "127.0.0.1"],
    [b, "::1"],
    [c, "127.0.0.1"],
  ] as const) {
    const s = connect(port, host);
    clients.push(s);
    await new Promise<void>((r) => s.once("connect", r));
  }
  const est = stateMask(["ESTABLISHED"]);
  const viaProc = () =>
    ["tcp", "tcp6"]
      .flatMap((f) => parseProcNet(readFileSync(`/proc/self/net/${f}`, "utf8"), { keep: () => true }).entries)
      .filter((e) => e.state === "ESTABLISHED" && (e.remotePort === a || e.remotePort === b));
  const key = (e: { inode: number; localPort: number; remotePort: number; remoteIp: string }) =>
    `${e.inode} ${e.localPort}->${e.remoteIp}:${e.remotePort}`;
  const expected = await waitFor("three client sockets in /proc", () => {
    const v = viaProc();
    return v.length === 3 && v;
  });
  const got = listSockets(est, [a, b]);
  assert.deepEqual(got.map(key).sort(), expected.map(key).sort());
  assert.ok(got.every((e) => e.uid === process.getuid?.()));
  assert.equal(listSockets(est, [c]).length, 1);
  // This kernel answers inet_diag's first request type: both families came from one walk of its table.
  assert.equal(dumpMode(), "one walk");
  assert.deepEqual([...new Set(got.map((e) => e.family))].sort(), ["ipv4", "ipv6"]);
});

test("a socket is found again by its id until it closes; ActiveOpens counts each connect()", async (t) => {
  if (!needs(t, sockDiag() !== null, `the sock_diag addon is built by npm ci: ${sockDiagLoadError()}`))
    return;
  const port = await listen("127.0.0.1");
  const before = tcpCounters() as TcpCounters;
  assert.equal(typeof before.activeOpens, "number");
  const s = connect(port, "127.0.0.1");
  await new Promise<void>((r) => s.once("connect", r));
  const open = tcpCounters() as TcpCounters;
  assert.ok(open.activeOpens >= before.activeOpens + 1, "ActiveOpens moved with the connect()");
  const [entry] = listSockets(stateMask(["ESTABLISHED"]), [port]);
  assert.ok(entry, "the dump finds it");
  const again = lookupSocket(entry);
  assert.equal(again?.inode, entry.inode);
  assert.equal(again?.state, "ESTABLISHED");
  s.destroy();
  // The close of an established socket moves the counters: the source then asks the kernel again.
  await waitFor("the counters to move", () => !nothingMoved(open, tcpCounters() as TcpCounters));
  const gone = await waitFor("the lookup no longer finds an open socket", () => {
    const now = lookupSocket(entry);
    return (now === undefined || now.state !== "ESTABLISHED") && { now };
  });
  assert.ok(
    gone.now === undefined || ["FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE"].includes(gone.now.state),
  );
});
