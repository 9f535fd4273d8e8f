import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { readLineBatches } from "../src/report/lines.ts";
import { shares } from "../src/report/path-parts.ts";
import { readConnections } from "../src/report/path-read.ts";
import { PathJoiner } from "../src/report/paths.ts";
import { SequenceCheck } from "../src/report/sequence.ts";
import { conn, newId } from "./helpers/records.ts";
import { scratchDir } from "./helpers/scratch.ts";

// report --paths reads a collector's files on several threads (src/report/path-read.ts): the files
// cut into shares (path-parts.ts), each read by a worker thread. Whatever the cut and the order the
// workers' connections arrive in, the paths, the holes in the daemon's numbering and the lines
// skipped must be those one thread finds.

const cid = (n: number) => `1:${Buffer.from(String(n).padStart(20, "0")).toString("base64").slice(0, 27)}=`;
const at = (ms: number) =>
  new Date(Date.parse("2026-11-23T08:00:00Z") + ms).toISOString().replace("Z", "000000Z");

/**
 * A fleet's trail: 1,200 connections on 3 hosts, each a hop from an open one on another host a third
 * of the time, opened and closed far apart (so a connection's two records fall in different shares),
 * numbered per run with two records dropped; written as four files, the first two gzipped, a line of
 * text and a cut-off last line among them.
 */
function fleet(): string[] {
  const dir = scratchDir("sol-path-read-");
  const run = newId();
  let seq = 0;
  const out: string[] = [];
  const open: { id: string; flow: number; host: string; start: string; o: Parameters<typeof conn>[0] }[] = [];
  const line = (r: Record<string, unknown>) => {
    seq++;
    if (seq === 700 || seq === 1500) return; // lost on the way
    (r.event as Record<string, unknown>).sequence = seq;
    r.agent = { type: "ssh-outbound-logger", ephemeral_id: run };
    out.push(JSON.stringify(r));
  };
  for (let n = 0; n < 1200; n++) {
    const via = n % 3 === 1 ? open[n % open.length] : undefined;
    const start = at(n * 1000);
    const o = {
      id: newId(),
      action: "connection-opened" as const,
      time: start,
      hostname: via ? `${via.host}>h${n % 3}` : `h${n % 3}`,
      user: `u${n % 7}`,
      typedHost: `t${n % 11}`,
      communityId: cid(n),
      login: via
        ? { user: `u${n % 5}`, entry: "sshd", communityId: cid(via.flow), ip: "10.0.0.5" }
        : { user: `u${n % 5}`, entry: "terminal" },
    };
    line(conn(o));
    open.push({ id: o.id, flow: n, host: o.hostname, start, o });
    if (n === 400) out.push("a line of text, not a record");
    if (open.length > 40) {
      const o = open.shift() as (typeof open)[number];
      line(conn({ ...o.o, action: "connection-closed", time: at(n * 1000 + 500), start: o.start }));
    }
  }
  const files = [0, 1, 2, 3].map((i) => join(dir, `log.log-2026112${i}`));
  const per = Math.ceil(out.length / 4);
  for (const [i, f] of files.entries()) {
    const text = `${out.slice(i * per, (i + 1) * per).join("\n")}${i === 3 ? `\n${out[0]?.slice(0, 50)}` : "\n"}`;
    writeFileSync(f, i < 2 ? gzipSync(text) : text);
  }
  return files;
}

async function read(files: string[], threads: number) {
  const joiner = new PathJoiner();
  const sequences = new SequenceCheck();
  const errors: string[] = [];
  const skipped = await readConnections(
    files,
    joiner,
    sequences,
    { threads, minParallelBytes: 0 },
    (f, m) => void errors.push(`${f}: ${m}`),
  );
  return { paths: [...joiner.paths({})], holes: sequences.holes(), skipped, errors };
}

test("shares: every line of the files once, in order, however many threads", async () => {
  const files = fleet();
  const whole: string[] = [];
  for await (const b of readLineBatches(files, () => undefined)) whole.push(...b.lines);
  for (const threads of [2, 3, 5, 16]) {
    const parts = shares(files, threads, 0);
    assert.ok(parts.length >= 2 && parts.length <= threads, `${parts.length} shares for ${threads} threads`);
    const got: string[] = [];
    for (const share of parts)
      for await (const b of readLineBatches(share, () => undefined)) got.push(...b.lines);
    assert.deepEqual(got, whole, `${threads} threads`);
  }
  assert.equal(shares(files, 4, 1 << 30).length, 1, "small input: one share, read in this thread");
});

test("worker threads find the paths, holes and skipped lines one thread finds", async () => {
  const files = fleet();
  const one = await read(files, 1);
  assert.ok(one.paths.length > 700, `${one.paths.length} paths`);
  assert.ok(
    one.paths.some((p) => p.hops.length >= 3),
    "paths of three hosts or more",
  );
  assert.deepEqual(
    one.holes.map((h) => h.ranges),
    [
      [
        [700, 700],
        [1500, 1500],
      ],
    ],
  );
  assert.deepEqual(one.skipped, { "not-json": 1, truncated: 1 });
  for (const threads of [2, 3]) {
    const many = await read(files, threads);
    assert.deepEqual(many, one, `${threads} threads`);
  }
});

test("a file that cannot be read is said, and the others still read, with threads", async () => {
  const files = fleet();
  const got = await read([...files.slice(0, 2), "/nonexistent/log.log", ...files.slice(2)], 3);
  assert.equal(got.errors.length, 1);
  assert.match(got.errors[0] as string, /nonexistent/);
  assert.ok(got.paths.length > 700);
});
