import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";
import { parseProcNet } from "../../src/sources/proc-net.ts";
import { listSockets, sockDiag, sockDiagLoadError, stateMask } from "../../src/sources/sock-diag.ts";
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
});
