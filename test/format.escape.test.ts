import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeUtf8Escaped } from "../src/bytes.ts";
import { escapeText, kv } from "../src/format/escape.ts";
import { ExactBytes } from "../src/format/exact-bytes.ts";

test("bytes that are not UTF-8 survive decoding: U+FFFD and the exact bytes in JSON, \\xNN in text", () => {
  const bytes = Buffer.from([0x61, 0xff, 0xc3, 0xa9, 0xe2, 0x82, 0x62, 0xf0, 0x9f, 0x98, 0x80]);
  const s = decodeUtf8Escaped(bytes);
  const exact = new ExactBytes();
  assert.equal(exact.text(s, "process.args.1"), "a\ufffdé\ufffd\ufffdb😀");
  assert.deepEqual(exact.result(), { "process.args.1": bytes.toString("base64") });
  assert.equal(escapeText(s), "a\\xffé\\xe2\\x82b😀");
  // overlong and surrogate encodings are not UTF-8 either
  const odd = Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]);
  assert.equal(new ExactBytes().text(decodeUtf8Escaped(odd), "p"), "\ufffd".repeat(5));
  assert.equal(escapeText(decodeUtf8Escaped(odd)), "\\xc0\\xaf\\xed\\xa0\\x80");
});

test("typed \\xff and the byte 0xff give different records; UTF-8 strings list no raw bytes", () => {
  const typed = new ExactBytes();
  const byte = new ExactBytes();
  const a = typed.text("\\xff", "process.args.1");
  const b = byte.text(decodeUtf8Escaped(Buffer.from([0xff])), "process.args.1");
  assert.notEqual(a, b);
  assert.equal(typed.result(), undefined);
  assert.deepEqual(byte.result(), { "process.args.1": "/w==" });
  // In text, the typed backslash is doubled: "\\\\xff" against "\\xff".
  assert.notEqual(escapeText("\\xff"), escapeText(decodeUtf8Escaped(Buffer.from([0xff]))));
});

test("text escaping leaves no control character, line break or bidi override", () => {
  const hostile = 'a\nb\r\tc\u001b[31md\u0000e\u007f\u009bf\u2028g\u202eh\\i"j';
  const out = escapeText(hostile);
  assert.equal(out, 'a\\nb\\r\\tc\\x1b[31md\\x00e\\x7f\\u009bf\\u2028g\\u202eh\\\\i\\"j');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
  assert.doesNotMatch(out, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
});

test("kv quotes values with spaces, quotes or equals signs, and leaves out absent ones", () => {
  assert.equal(kv("a", "plain"), " a=plain");
  assert.equal(kv("a", "two words"), ' a="two words"');
  assert.equal(kv("a", 'x="y"'), ' a="x=\\"y\\""');
  assert.equal(kv("a", ""), ' a=""');
  assert.equal(kv("a", undefined), "");
  assert.equal(kv("n", 5), " n=5");
});
