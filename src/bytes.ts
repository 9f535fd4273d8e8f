/**
 * UTF-8 decoding that loses nothing: each byte that is not part of a valid UTF-8 sequence becomes the
 * lone surrogate U+DC80+byte (the "surrogateescape" scheme Python uses for argv and file names).
 * Formatters turn those back into a visible `\xNN`; no byte of a hostile argv is silently replaced.
 */
export function decodeUtf8Escaped(buf: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] as number;
    if (b < 0x80) {
      // Fast path for ASCII runs.
      let j = i + 1;
      while (j < buf.length && (buf[j] as number) < 0x80) j++;
      out += Buffer.from(buf.buffer, buf.byteOffset + i, j - i).toString("latin1");
      i = j;
      continue;
    }
    const len = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    const cp = len === 0 ? -1 : decodeSequence(buf, i, len);
    if (cp < 0) {
      out += String.fromCharCode(0xdc00 + b);
      i++;
    } else {
      out += String.fromCodePoint(cp);
      i += len;
    }
  }
  return out;
}

function decodeSequence(buf: Uint8Array, i: number, len: number): number {
  if (i + len > buf.length || len > 4) return -1;
  const b0 = buf[i] as number;
  let cp = len === 2 ? b0 & 0x1f : len === 3 ? b0 & 0x0f : b0 & 0x07;
  for (let k = 1; k < len; k++) {
    const c = buf[i + k] as number;
    if ((c & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (c & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  if ((len === 3 && cp < 0x800) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff))) return -1;
  if (cp >= 0xd800 && cp <= 0xdfff) return -1;
  return cp;
}

/** True for the lone surrogates that decodeUtf8Escaped uses to carry a raw byte. */
export function escapedByte(code: number): number | undefined {
  return code >= 0xdc80 && code <= 0xdcff ? code - 0xdc00 : undefined;
}

/** The exact bytes a string from decodeUtf8Escaped stands for: UTF-8, each carried byte as itself. */
export function encodeUtf8Escaped(s: string): Buffer {
  const parts: number[] = [];
  for (const ch of s) {
    const raw = escapedByte(ch.codePointAt(0) as number);
    if (raw !== undefined) parts.push(raw);
    else for (const b of Buffer.from(ch, "utf8")) parts.push(b);
  }
  return Buffer.from(parts);
}

/** True when the string carries a byte that was not UTF-8. */
export function hasEscapedBytes(s: string): boolean {
  return /[\udc80-\udcff]/.test(s);
}
