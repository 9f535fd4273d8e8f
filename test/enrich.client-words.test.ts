import assert from "node:assert/strict";
import { test } from "node:test";
import {
  getopt,
  parseRemotePath,
  parseUri,
  SCP,
  splitUserHost,
  sshSpecFor,
} from "../src/enrich/client-words.ts";

// How SSH clients read their command line's words (src/enrich/client-words.ts): BSD getopt as ssh.c
// uses it, the ssh:// URI, [user@]host and scp's [user@]host:path.

function options(args: string[], spec = sshSpecFor(false)) {
  const seen: [string, string | undefined][] = [];
  const r = getopt(args, 1, spec, (l, v) => void seen.push([l, v]));
  return { ...r, seen };
}

test("getopt: grouped flags, a value inline or in the next word, stopping at the first operand", () => {
  const r = options(["ssh", "-4Np2222", "-l", "bob", "host", "-v"]);
  assert.deepEqual(r.seen, [
    ["4", undefined],
    ["N", undefined],
    ["p", "2222"],
    ["l", "bob"],
  ]);
  assert.deepEqual([r.next, r.terminated], [4, false]);
});

test("getopt: `--` ends options, and so does `--` taken as an option's value (ssh.c's rule)", () => {
  assert.deepEqual(options(["ssh", "-v", "--", "-host"]).next, 3);
  assert.equal(options(["ssh", "-v", "--", "-host"]).terminated, true);
  const r = options(["ssh", "-i", "--", "host", "-l", "bob"]);
  assert.deepEqual([r.seen, r.next, r.terminated], [[["i", "--"]], 3, true]);
  assert.equal(options(["ssh", "-i--", "host"]).terminated, false, "-i-- is the file -- given inline");
});

test("getopt: ssh's -P is a flag or takes a value as the installed client has it; scp's -P takes a port", () => {
  assert.deepEqual(options(["ssh", "-P", "x", "h"], sshSpecFor(false)).seen, [["P", undefined]]);
  assert.deepEqual(options(["ssh", "-P", "x", "h"], sshSpecFor(true)).seen, [["P", "x"]]);
  assert.deepEqual(options(["scp", "-P", "2222", "a", "h:b"], SCP).seen, [["P", "2222"]]);
});

test("ssh:// URIs: user, host, port, brackets; the scheme compared case-sensitively", () => {
  assert.deepEqual(parseUri("ssh://carol@h5:2200/path", "ssh"), { user: "carol", host: "h5", port: "2200" });
  assert.deepEqual(parseUri("ssh://[2001:db8::1]:23", "ssh"), { host: "2001:db8::1", port: "23" });
  assert.deepEqual(parseUri("ssh://u%40x;fp=1@h", "ssh"), { user: "u@x", host: "h" });
  assert.equal(parseUri("SSH://dan@h6", "ssh"), undefined);
});

test("[user@]host splits at the last @; scp's host:path is remote only with a colon before any slash", () => {
  assert.deepEqual(splitUserHost("x@y@h"), { user: "x@y", host: "h" });
  assert.deepEqual(splitUserHost("h"), { host: "h" });
  assert.deepEqual(parseRemotePath("alice@srv:/tmp/"), { user: "alice", host: "srv" });
  assert.deepEqual(parseRemotePath("[2001:db8::2]:up"), { host: "2001:db8::2" });
  assert.equal(parseRemotePath("./a:b"), undefined);
  assert.equal(parseRemotePath("local.txt"), undefined);
});
