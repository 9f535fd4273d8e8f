import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import type { KernelEvent } from "../../src/sources/ebpf/kernel-table.ts";
import { BpfProbe, type CountedAttempts } from "../../src/sources/ebpf/probe.ts";
import { needs } from "../helpers/ci.ts";
import { quietDiag } from "../helpers/fakes.ts";
import { freePort } from "../helpers/sshd.ts";
import { waitFor } from "../helpers/wait.ts";

// Our BPF program through its wrapper (src/sources/ebpf/probe.ts), loaded into this kernel: a connect
// to a watched port comes as connect, established and close; beyond the user's rate (here 1 a second,
// a burst of 1) refused connects are counted in the kernel and read back per user and destination,
// and at stop nothing of the program is left attached.

const why = () => checkEbpf().reason;

/** A connect that completes to a listener, or is refused; resolves once it ended. */
const once = (port: number) =>
  new Promise<void>((r) => {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => r());
    s.on("connect", () => {
      s.destroy();
      r();
    });
  });

/** `server` listening on 127.0.0.1 at a port of the kernel's choosing; that port. */
async function onLoopback(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

/** The probe watching `port`, its kernel events pushed to `events`; `opts` a rate, and who takes the counts. */
function recordingProbe(
  port: number,
  events: KernelEvent[],
  opts: { flood?: { rate: number; burst: number }; counted?: (c: CountedAttempts[]) => void } = {},
): BpfProbe {
  return new BpfProbe(
    { ports: [port], clients: [], diag: quietDiag(), ...(opts.flood ? { flood: opts.flood } : {}) },
    {
      event: (e) => void events.push(e),
      client: () => undefined,
      lost: () => undefined,
      skipped: () => undefined,
      counted: opts.counted ?? (() => undefined),
      down: () => undefined,
      up: () => undefined,
      gaveUp: (e) => assert.fail(e),
    },
  );
}

/** A server on loopback that answers each client with what it sent (a client's reset is its end). */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on("data", (d) => s.write(d));
    s.on("error", () => undefined); // the client's reset
  });
  return { server, port: await onLoopback(server) };
}

/**
 * A connection to `port` that has received bytes (its close then wakes no reader), once the probe has
 * handed over its connect and establishment to `events`.
 */
async function answeredConnection(port: number, events: KernelEvent[]): Promise<Socket> {
  const s = connect(port, "127.0.0.1");
  await new Promise<void>((r, j) => {
    s.once("error", j);
    s.once("data", () => r());
    s.write("hello");
  });
  await waitFor(
    "the connect and its establishment",
    () => events.some((e) => e.kind === "established"),
    10_000,
  );
  return s;
}

test("a connect to a watched port: connect, established and close, with this process as its owner", async (t) => {
  if (!needs(t, checkEbpf().ok, `the eBPF probe (${why()})`)) return;
  const server = createServer((s) => s.destroy());
  const port = await onLoopback(server);
  const events: KernelEvent[] = [];
  const probe = recordingProbe(port, events);
  try {
    await probe.start();
    await once(port);
    await waitFor("the close", () => events.some((e) => e.kind === "close"), 10_000);
    const connectEv = events.find((e) => e.kind === "connect");
    assert.ok(connectEv?.kind === "connect");
    assert.deepEqual([connectEv.pid, connectEv.dport, connectEv.daddr], [process.pid, port, "127.0.0.1"]);
    assert.deepEqual(
      [...new Set(events.filter((e) => e.sk === connectEv.sk).map((e) => e.kind))],
      ["connect", "established", "close"],
    );
    // The kernel's count of runs it skipped (recursion_misses) is read from each program's info: a
    // number, whatever it is (a skip cannot be made to happen on purpose).
    probe.poll();
    assert.ok(Number.isInteger(probe.counters.kernel_skipped) && probe.counters.kernel_skipped >= 0);
  } finally {
    await probe.stop();
    server.close();
  }
});

test("a close that waits in the ring (it wakes no reader) is handed over by flush, at once", async (t) => {
  if (!needs(t, checkEbpf().ok, `the eBPF probe (${why()})`)) return;
  // A server that answers: the connection then has received bytes, and its close wakes no one.
  const { server, port } = await echoServer();
  const events: KernelEvent[] = [];
  const probe = recordingProbe(port, events);
  try {
    await probe.start();
    const s = await answeredConnection(port, events);
    const before = events.length;
    // Closed by a reset: the kernel's close and its record happen in this call, then nothing of the
    // event loop runs before the asserts below (the records' hand-over is a callback).
    s.resetAndDestroy();
    assert.equal(probe.flush(), true, "the reader thread answered");
    assert.equal(probe.drained, false, "the close is handed over by the flush, not 100 ms later");
    await waitFor("the close", () => events.some((e) => e.kind === "close"), 10_000);
    const close = events.slice(before).find((e) => e.kind === "close");
    assert.ok(
      close?.kind === "close" && close.bytesReceived > 0,
      "a close of a connection that received bytes",
    );
    assert.equal(probe.flush(), true, "an idle reader answers too");
    assert.equal(probe.drained, true);
  } finally {
    await probe.stop();
    server.close();
  }
});

test("a flush the reader does not answer in time says so, and what it was asked for still comes", async (t) => {
  if (!needs(t, checkEbpf().ok, `the eBPF probe (${why()})`)) return;
  const { server, port } = await echoServer();
  const events: KernelEvent[] = [];
  const probe = recordingProbe(port, events);
  // The reader thread answers a flush only 300 ms after it is asked (read once, when it starts):
  // flush() gives up after its 50 ms.
  process.env.SSH_OUTBOUND_FAULT_FLUSH_LATE_MS = "300";
  try {
    await probe.start();
  } finally {
    delete process.env.SSH_OUTBOUND_FAULT_FLUSH_LATE_MS;
  }
  try {
    const s = await answeredConnection(port, events);
    const before = events.length;
    s.resetAndDestroy();
    assert.equal(probe.flush(), false, "the reader did not answer within flush's time limit");
    // The check then repairs nothing (its picture may be older than a close still in the ring), and
    // the close comes as any other record.
    await waitFor("the close, after all", () => events.slice(before).some((e) => e.kind === "close"), 10_000);
  } finally {
    await probe.stop();
    server.close();
  }
});

test("beyond the user's rate, refused connects are counted in the kernel: every one, per destination", async (t) => {
  if (!needs(t, checkEbpf().ok, `the eBPF probe (${why()})`)) return;
  const port = await freePort();
  const events: KernelEvent[] = [];
  const counted: CountedAttempts[] = [];
  const probe = recordingProbe(port, events, {
    flood: { rate: 1, burst: 1 },
    counted: (c) => void counted.push(...c),
  });
  try {
    await probe.start();
    for (let i = 0; i < 50; i++) await once(port);
    probe.poll();
  } finally {
    await probe.stop();
  }
  const sent = events.filter((e) => e.kind === "connect").length;
  const total = counted.reduce((n, c) => n + c.count, 0);
  assert.ok(sent >= 1 && sent <= 3, `${sent} sent within the rate`);
  assert.equal(sent + total, 50, "every connect was sent or counted");
  const mine = counted.filter((c) => c.uid === process.getuid?.());
  assert.ok(mine.length >= 1);
  const dests = mine.flatMap((c) => c.destinations);
  assert.deepEqual([...new Set(dests.map((d) => `${d.remote.ip}:${d.remote.port}`))], [`127.0.0.1:${port}`]);
  assert.equal(
    dests.reduce((n, d) => n + d.count, 0),
    total,
  );
  assert.ok(dests.every((d) => d.pid === process.pid && d.firstNs <= d.lastNs));
});
