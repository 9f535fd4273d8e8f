import assert from "node:assert/strict";
import { test } from "node:test";
import type { SocketFacts } from "../src/sources/types.ts";
import { BANNER_WAIT_NS, type ConnectionEvent, Tracker } from "../src/track/tracker.ts";

// The opening of a connection whose source reports banners waits for the server's (at most
// BANNER_WAIT_NS), so that its record carries it and, as a rule, the client's, sent first; an end or the
// daemon's stop writes it at once.

const syn = (key: string): SocketFacts => ({
  key,
  family: "ipv4",
  remote: { ip: "127.0.0.1", port: 2222 },
  state: "SYN_SENT",
  detectedBy: "protocol",
});

function tracker() {
  const out: ConnectionEvent[] = [];
  const t = new Tracker(
    () => "ebpf",
    (e) => out.push(e),
  );
  const seen = () =>
    out
      .filter((e) => e.action !== "attempted")
      .map(
        (e) =>
          `${e.action}:${e.socket.key}:${e.timeNs}:${e.socket.banners?.client ?? "-"}/${e.socket.banners?.server ?? "-"}`,
      );
  return { t, seen };
}

const local = { ip: "127.0.0.1", port: 5000 };

test("the opening waits for the server's banner, then is written at the handshake's time with both", () => {
  const { t, seen } = tracker();
  t.observe({ type: "connect", timeNs: 10n, socket: syn("a") });
  t.observe({ type: "established", timeNs: 11n, key: "a", local, banners: true });
  assert.deepEqual(seen(), []);
  t.observe({ type: "banner", timeNs: 12n, key: "a", side: "client", text: "SSH-2.0-c" });
  assert.deepEqual(seen(), []);
  t.observe({ type: "banner", timeNs: 13n, key: "a", side: "server", text: "SSH-2.0-s" });
  t.observe({ type: "close", timeNs: 20n, key: "a", oldState: "FIN_WAIT1" });
  assert.deepEqual(seen(), ["opened:a:11:SSH-2.0-c/SSH-2.0-s", "closed:a:20:SSH-2.0-c/SSH-2.0-s"]);
  // A client that waits for the server's banner: the opening goes with the server's alone.
  t.observe({ type: "connect", timeNs: 30n, socket: syn("b") });
  t.observe({ type: "established", timeNs: 31n, key: "b", local, banners: true });
  t.observe({ type: "banner", timeNs: 32n, key: "b", side: "server", text: "SSH-2.0-s" });
  t.observe({ type: "banner", timeNs: 33n, key: "b", side: "client", text: "SSH-2.0-c" });
  t.observe({ type: "close", timeNs: 40n, key: "b", oldState: "FIN_WAIT1" });
  assert.deepEqual(seen().slice(2), ["opened:b:31:-/SSH-2.0-s", "closed:b:40:SSH-2.0-c/SSH-2.0-s"]);
});

test("a server that never answers costs its opening BANNER_WAIT_NS, no more; an end writes it first", () => {
  const { t, seen } = tracker();
  t.observe({ type: "connect", timeNs: 10n, socket: syn("a") });
  t.observe({ type: "established", timeNs: 11n, key: "a", local, banners: true });
  t.observe({ type: "banner", timeNs: 12n, key: "a", side: "client", text: "SSH-2.0-c" });
  t.tick(11n + BANNER_WAIT_NS - 1n);
  assert.deepEqual(seen(), []);
  t.tick(11n + BANNER_WAIT_NS);
  assert.deepEqual(seen(), ["opened:a:11:SSH-2.0-c/-"]);

  t.observe({ type: "connect", timeNs: 30n, socket: syn("b") });
  t.observe({ type: "established", timeNs: 31n, key: "b", local, banners: true });
  t.observe({ type: "close", timeNs: 32n, key: "b", oldState: "FIN_WAIT1" });
  t.observe({ type: "connect", timeNs: 40n, socket: syn("c") });
  t.observe({ type: "established", timeNs: 41n, key: "c", local, banners: true });
  t.releaseAll();
  assert.deepEqual(seen().slice(1), ["opened:b:31:-/-", "closed:b:32:-/-", "opened:c:41:-/-"]);
  // Without banners to wait for (procfs, or the protocol programs off), the opening is at once.
  t.observe({ type: "connect", timeNs: 50n, socket: syn("d") });
  t.observe({ type: "established", timeNs: 51n, key: "d", local });
  assert.equal(seen().at(-1), "opened:d:51:-/-");
});
