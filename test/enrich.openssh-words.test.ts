import assert from "node:assert/strict";
import { test } from "node:test";
import { a2port, splitOptionLine, splitWords } from "../src/enrich/openssh-words.ts";

// How OpenSSH reads an option's words (src/enrich/openssh-words.ts): strdelim's key and value,
// argv_split's quoting and comments, a2port's numbers and service names.

test("an option line: the key lower-cased, split at blanks or one =, trailing blanks gone", () => {
  assert.deepEqual(splitOptionLine("User=alice"), { key: "user", rest: "alice" });
  assert.deepEqual(splitOptionLine(" Port = 2222  "), { key: "port", rest: "2222" });
  assert.deepEqual(splitOptionLine("ProxyJump a b"), { key: "proxyjump", rest: "a b" });
  assert.equal(splitOptionLine("# comment"), undefined);
  assert.equal(splitOptionLine(""), undefined);
});

test("words: quotes group and go, a backslash escapes, # at a word's start ends the line", () => {
  assert.deepEqual(splitWords(`"v w" 'x' y\\ z`), ["v w", "x", "y z"]);
  assert.deepEqual(splitWords("a # b"), ["a"]);
  assert.deepEqual(splitWords("a#b"), ["a#b"], "inside a word it is a character");
  assert.equal(splitWords('"open'), undefined, "unbalanced quotes are refused, as OpenSSH does");
});

test("a2port: 1–65535, a sign and leading blanks allowed, service names from /etc/services", () => {
  assert.equal(a2port("2222"), 2222);
  assert.equal(a2port("+1"), 1);
  assert.equal(a2port("010022"), 10022);
  assert.equal(a2port("0"), undefined);
  assert.equal(a2port("70000"), undefined);
  assert.equal(a2port("22 "), undefined);
  assert.equal(a2port("ssh"), 22);
});
