import assert from "node:assert/strict";
import { test } from "node:test";
import { Listeners } from "../src/sources/direction.ts";

const ssh = new Set([22]);
const ep = (ip: string, port: number) => ({ ip, port });

test("a socket accepted by a listener is inbound: same address, or a wildcard listener of its family", () => {
  const l = new Listeners();
  l.add("127.0.0.1", 8080); // ssh -L's listener
  l.add("0.0.0.0", 9000);
  l.add("::", 9100);
  assert.equal(l.inbound(ep("127.0.0.1", 8080), ep("127.0.0.1", 51000), ssh), true);
  assert.equal(l.inbound(ep("10.1.2.3", 9000), ep("10.9.9.9", 51000), ssh), true);
  assert.equal(l.inbound(ep("10.1.2.3", 9100), ep("10.9.9.9", 51000), ssh), true, "[::] takes IPv4 too");
  assert.equal(l.inbound(ep("2001:db8::1", 9100), ep("2001:db8::2", 51000), ssh), true);
  assert.equal(
    l.inbound(ep("2001:db8::1", 9000), ep("2001:db8::2", 51000), ssh),
    false,
    "0.0.0.0 is IPv4 only",
  );
});

test("a listened-on port on another address does not make a connection inbound (issue 19, attack 2)", () => {
  const l = new Listeners();
  l.add("127.0.0.1", 40000);
  assert.equal(l.inbound(ep("127.0.0.2", 40000), ep("127.0.0.1", 2222), ssh), false);
});

test("a connection to a watched SSH port, or to a listener of ours, is outbound even from a listened-on port", () => {
  const l = new Listeners();
  l.add("0.0.0.0", 40000); // shared with SO_REUSEPORT by the connecting socket
  l.add("127.0.0.1", 2222);
  assert.equal(l.inbound(ep("10.1.2.3", 40000), ep("192.0.2.7", 22), ssh), false);
  assert.equal(
    l.inbound(ep("127.0.0.1", 40000), ep("127.0.0.1", 2222), ssh),
    false,
    "the peer is our listener",
  );
  assert.equal(
    l.inbound(ep("127.0.0.1", 40000), ep("127.0.0.1", 51000), ssh),
    true,
    "a plain accepted socket",
  );
});
