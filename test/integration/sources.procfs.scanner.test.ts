import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { OwnNamespace } from "../../src/sources/procfs/own-namespace.ts";
import { ProcfsScanner } from "../../src/sources/procfs/scanner.ts";
import { readProcTables } from "../../src/sources/procfs/tables.ts";
import { quietDiag } from "../helpers/fakes.ts";

// The procfs sensor's pieces against this kernel (no root needed: our own sockets): the /proc tables,
// our namespace through netlink sock_diag, and the scanner's picture, which keeps the outbound end of a
// connection to a watched port, with this process as its owner, and leaves the accepted end out.

let server: Server | undefined;
let client: Socket | undefined;
const accepted: Socket[] = [];
let port = 0;

before(async () => {
  server = createServer((s) => void accepted.push(s));
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
  client = connect(port, "127.0.0.1");
  await new Promise<void>((r) => client?.once("connect", r));
});
after(() => {
  client?.destroy();
  for (const s of accepted) s.destroy();
  server?.close();
});

test("/proc/self/net/tcp: both ends of the connection, and the listener", () => {
  const t = readProcTables(process.pid);
  const local = client?.localPort;
  assert.ok(
    t.entries.some((e) => e.remotePort === port && e.localPort === local && e.state === "ESTABLISHED"),
  );
  assert.ok(t.entries.some((e) => e.localPort === port && e.remotePort === local));
  assert.equal(
    t.listen.inbound({ ip: "127.0.0.1", port }, { ip: "127.0.0.1", port: local as number }, new Set()),
    true,
  );
  assert.equal(t.malformed, 0);
});

test("our namespace through netlink: the socket to the watched port, with its inode", () => {
  const own = new OwnNamespace([port], quietDiag());
  assert.match(own.tableSource, /netlink/);
  const t = own.read([]);
  assert.ok(t, "netlink answered");
  const e = t.entries.find((x) => x.remotePort === port);
  assert.ok(e && e.inode > 0 && e.localPort === client?.localPort);
  assert.equal(own.errors, 0);
});

test("the scanner's picture: the outbound end, owned by this process; the accepted end is inbound", () => {
  const scanner = new ProcfsScanner({ ports: [port], clients: [], diag: quietDiag() });
  const facts = scanner.scan();
  const mine = facts.filter((f) => f.remote.port === port);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]?.owner?.pid, process.pid);
  assert.equal(mine[0]?.local?.port, client?.localPort);
  assert.ok(!facts.some((f) => f.local?.port === port), "the accepted end is not an outbound connection");
});
