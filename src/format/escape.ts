import { escapedByte } from "../bytes.ts";

/**
 * Makes a string safe for one line of text: no byte of it can end the line, move the cursor, change
 * colours or pass for a field separator. Backslash is escaped first so every escape is unambiguous.
 * Bytes that were not UTF-8 (carried as lone surrogates, see bytes.ts) are shown as \xNN.
 */
export function escapeText(s: string): string {
  // Most values are plain printable ASCII with nothing to escape: no walk over their characters.
  if (PLAIN.test(s)) return s;
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    const raw = escapedByte(c);
    if (raw !== undefined) out += `\\x${hex2(raw)}`;
    else if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${hex2(c)}`;
    // C1 controls (0x9b is a one-byte CSI), line/paragraph separators, bidi overrides, lone surrogates.
    else if ((c >= 0x80 && c <= 0x9f) || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e)) {
      out += `\\u${c.toString(16).padStart(4, "0")}`;
    } else if ((c >= 0x2066 && c <= 0x2069) || (c >= 0xd800 && c <= 0xdfff)) {
      out += `\\u${c.toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return out;
}

/** Printable ASCII except backslash and double quote. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** `key=value`, the value quoted when it holds a space, a quote, an equals sign or nothing at all. */
export function kv(key: string, value: string | number | undefined): string {
  if (value === undefined) return "";
  const v = escapeText(String(value));
  return /^[^\s"=]+$/.test(v) ? ` ${key}=${v}` : ` ${key}="${v}"`;
}
