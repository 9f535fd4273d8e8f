import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeUtf8Escaped } from "../src/bytes.ts";
import { escapeText, kv, showRawBytes } from "../src/format/escape.ts";

test("bytes that are not UTF-8 survive decoding and show as \\xNN", () => {
  const s = decodeUtf8Escaped(
    Buffer.from([0x61, 0xff, 0xc3, 0xa9, 0xe2, 0x82, 0x62, 0xf0, 0x9f, 0x98, 0x80]),
  );
  assert.equal(showRawBytes(s), "a\\xffé\\xe2\\x82b😀");
  assert.equal(escapeText(s), "a\\xffé\\xe2\\x82b😀");
  // overlong and surrogate encodings are not UTF-8 either
  assert.equal(
    showRawBytes(decodeUtf8Escaped(Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]))),
    "\\xc0\\xaf\\xed\\xa0\\x80",
  );
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
