import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  AF_INET,
  bothFamiliesRequest,
  dumpRequest,
  lookupRequest,
  parseReply,
  portFilter,
  SockDiagError,
  stateMask,
} from "../src/sources/procfs/sock-diag.ts";

const fixture = (name: string) =>
  Buffer.from(readFileSync(new URL(`fixtures/${name}`, import.meta.url), "utf8").trim(), "hex");

// Captured from Linux 6.18: one established loopback connection per family, then NLMSG_DONE.
/** Entries without the raw socket id, which is checked on its own. */
function parsed(name: string, family: number, localPort: number) {
  return parseReply(fixture(name), true).map(({ sockid, familyCode, ...rest }) => {
    assert.equal(familyCode, family);
    assert.equal(sockid.length, 48, "inet_diag_sockid");
    assert.equal(sockid.readUInt16BE(0), localPort, "it starts with the source port");
    return rest;
  });
}

test("a captured IPv4 dump reply parses to the connection's tuple, state, uid and inode", () => {
  assert.deepEqual(parsed("sock-diag-ipv4.hex", 2, 56820), [
    {
      family: "ipv4",
      state: "ESTABLISHED",
      localIp: "127.0.0.1",
      localPort: 56820,
      remoteIp: "127.0.0.1",
      remotePort: 45743,
      uid: 0,
      inode: 142276,
    },
  ]);
});

test("a captured IPv6 dump reply parses too", () => {
  assert.deepEqual(parsed("sock-diag-ipv6.hex", 10, 50058), [
    {
      family: "ipv6",
      state: "ESTABLISHED",
      localIp: "::1",
      localPort: 50058,
      remoteIp: "::1",
      remotePort: 42797,
      uid: 0,
      inode: 142277,
    },
  ]);
});

test("a dump reply cut inside a message, or before NLMSG_DONE, is an error, never a shorter list", () => {
  const reply = fixture("sock-diag-ipv4.hex");
  const first = reply.readUInt32LE(0);
  const cut = (b: Buffer, code: string) =>
    assert.throws(
      () => parseReply(b, true),
      (e: unknown) => e instanceof SockDiagError && e.code === code && !e.permanent,
    );
  cut(reply.subarray(0, 40), "ESHORT");
  cut(reply.subarray(0, 8), "ESHORT");
  cut(reply.subarray(0, (first + 3) & ~3), "ENODONE");
  assert.equal(parseReply(reply, true).length, 1, "the whole reply still parses");
});

test("an NLMSG_ERROR reply throws with the errno", () => {
  const err = Buffer.alloc(36);
  err.writeUInt32LE(36, 0);
  err.writeUInt16LE(2, 4);
  err.writeInt32LE(-1, 16);
  assert.throws(
    () => parseReply(err, true),
    (e: unknown) => e instanceof SockDiagError && e.errno === 1 && e.code === "EPERM" && e.permanent,
  );
});

test("a lookup request carries the socket id and is not a dump", () => {
  const [e] = parseReply(fixture("sock-diag-ipv4.hex"), true);
  assert.ok(e);
  const req = lookupRequest(e);
  assert.equal(req.readUInt16LE(6), 0x1, "NLM_F_REQUEST only");
  assert.equal(req.readUInt8(16), 2);
  assert.deepEqual(req.subarray(24, 72), e.sockid);
});

test("the request carries the family, TCP, the state mask and the bytecode as an attribute", () => {
  const bc = portFilter([22, 2222]);
  const req = dumpRequest(AF_INET, stateMask(["ESTABLISHED", "SYN_SENT"]), bc);
  assert.equal(req.readUInt32LE(0), req.length);
  assert.equal(req.readUInt16LE(4), 20, "SOCK_DIAG_BY_FAMILY");
  assert.equal(req.readUInt16LE(6), 0x301, "NLM_F_REQUEST | NLM_F_DUMP");
  assert.equal(req.readUInt8(16), AF_INET);
  assert.equal(req.readUInt8(17), 6, "IPPROTO_TCP");
  assert.equal(req.readUInt32LE(20), (1 << 1) | (1 << 2));
  assert.equal(req.readUInt16LE(72), 4 + bc.length, "nlattr length");
  assert.equal(req.readUInt16LE(74), 1, "INET_DIAG_REQ_BYTECODE");
  assert.deepEqual(req.subarray(76), bc);
});

test("the one-walk request is inet_diag's first type: the old header, the state mask, the same bytecode", () => {
  const bc = portFilter([22]);
  const req = bothFamiliesRequest(stateMask(["ESTABLISHED"]), bc);
  assert.equal(req.readUInt32LE(0), req.length);
  assert.equal(req.readUInt16LE(4), 18, "TCPDIAG_GETSOCK");
  assert.equal(req.readUInt16LE(6), 0x301, "NLM_F_REQUEST | NLM_F_DUMP");
  assert.equal(req.length, 16 + 60 + 4 + bc.length, "struct inet_diag_req is 60 bytes");
  assert.equal(req.readUInt32LE(16 + 52), 1 << 1, "idiag_states after the 48-byte sockid");
  assert.equal(req.readUInt16LE(76), 4 + bc.length, "nlattr length");
  assert.equal(req.readUInt16LE(78), 1, "INET_DIAG_REQ_BYTECODE");
  assert.deepEqual(req.subarray(80), bc);
});

/** Runs inet_diag bytecode as the kernel does (inet_diag_bc_run) for a remote port. */
function run(bc: Buffer, dport: number): boolean {
  let off = 0;
  let len = bc.length;
  while (len > 0) {
    const code = bc.readUInt8(off);
    let yes = true;
    if (code === 4) yes = dport >= bc.readUInt16LE(off + 6);
    else if (code === 5) yes = dport <= bc.readUInt16LE(off + 6);
    else if (code === 1) yes = false;
    const step = yes ? bc.readUInt8(off + 1) : bc.readUInt16LE(off + 2);
    off += step;
    len -= step;
  }
  return len === 0;
}

test("the port filter accepts exactly the listed ports", () => {
  for (const ports of [[22], [22, 2222], [1, 22, 443, 65535]]) {
    const bc = portFilter(ports);
    for (const p of [0, 1, 21, 22, 23, 443, 2222, 8022, 65535]) {
      assert.equal(run(bc, p), ports.includes(p), `ports ${ports}, dport ${p}`);
    }
  }
});
