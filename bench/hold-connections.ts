// A child of the benchmark: opens N idle loopback TCP connections to its own server and holds them
// until stdin closes, so that the process making the probe connections is not also holding 2×N fds.
// Prints "ready N PORT" once they are all established (PORT: the server's, for a monitor to watch).
import { connect, createServer, type Socket } from "node:net";

const n = Number(process.argv[2] ?? "0");
const server = createServer((s) => s.on("error", () => {}));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as { port: number }).port;
const sockets: Socket[] = [];
for (let i = 0; i < n; i += 200) {
  await Promise.all(
    Array.from({ length: Math.min(200, n - i) }, () => {
      const s = connect(port, "127.0.0.1");
      s.on("error", () => {});
      sockets.push(s);
      return new Promise<void>((r, j) => s.once("connect", r).once("error", j));
    }),
  );
}
process.stdout.write(`ready ${sockets.length} ${port}\n`);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
