/**
 * UTF-8 decoding that loses nothing: each byte that is not part of a valid UTF-8 sequence becomes the
 * lone surrogate U+DC80+byte (the "surrogateescape" scheme Python uses for argv and file names).
 * Formatters turn those back into a visible `\xNN`; no byte of a hostile argv is silently replaced.
 */
export function decodeUtf8Escaped(buf: Uint8Array): string {
  // UTF-16 code units into one array, turned into a string in chunks: linear in the input, whatever
  // its mix of ASCII, valid sequences and stray bytes (appending one character at a time was 0.5 s
  // for a 2 MiB argv of stray bytes). Plain ASCII, the usual case (a task name), is one conversion.
  let ascii = true;
  for (let k = 0; k < buf.length && ascii; k++) ascii = (buf[k] as number) < 0x80;
  if (ascii) return Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString("latin1");
  const units = new Uint16Array(buf.length);
  let n = 0;
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] as number;
    if (b < 0x80) {
      units[n++] = b;
      i++;
      continue;
    }
    const len = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    const cp = len === 0 ? -1 : decodeSequence(buf, i, len);
    if (cp < 0) {
      units[n++] = 0xdc00 + b;
      i++;
    } else if (cp > 0xffff) {
      units[n++] = 0xd800 + ((cp - 0x10000) >> 10);
      units[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      i += len;
    } else {
      units[n++] = cp;
      i += len;
    }
  }
  let out = "";
  for (let k = 0; k < n; k += CHUNK) {
    out += String.fromCharCode.apply(null, units.subarray(k, Math.min(n, k + CHUNK)) as unknown as number[]);
  }
  return out;
}

/** Code units per String.fromCharCode call: well under any engine's limit on arguments. */
const CHUNK = 8192;

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

/** What was there before a cut: the reader sees that, and by how much, the field was shortened. */
export interface Cut {
  /** The size of the whole argv (or string), in bytes. */
  bytes: number;
  /** The bytes kept. */
  kept: number;
}

/** Bytes of `s` in UTF-8, a carried raw byte (see bytes.ts) counting as the one byte it stands for. */
export function byteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair is one 4-byte code point.
      n += 4;
      i++;
    } else if (escapedByte(c) !== undefined) n += 1;
    else n += 3;
  }
  return n;
}

/** The longest prefix of `s` of at most `max` bytes, never splitting a character. */
export function cutString(s: string, max: number): string {
  if (s.length <= max / 4 || byteLength(s) <= max) return s;
  let n = 0;
  let i = 0;
  for (const ch of s) {
    const b = byteLength(ch);
    if (n + b > max) break;
    n += b;
    i += ch.length;
  }
  return s.slice(0, i);
}

/** A string kept whole up to `max` bytes, else cut with what the whole was. */
export function boundString(s: string, max: number): { value: string; cut?: Cut } {
  const bytes = byteLength(s);
  if (bytes <= max) return { value: s };
  const value = cutString(s, max);
  return { value, cut: { bytes, kept: byteLength(value) } };
}

/**
 * The arguments that fit in `max` bytes (each with its NUL), the one at the edge cut to fit. Nothing
 * is reordered or invented: the kept arguments are a prefix of the argv, the last perhaps shortened.
 */
export function boundArgs(
  args: readonly string[],
  max: number,
  whole?: number,
): { args: string[]; cut?: Cut } {
  const sizes = args.map((a) => byteLength(a) + 1);
  const bytes = whole ?? sizes.reduce((a, b) => a + b, 0);
  // `whole`: the args are already a prefix of an argv of that size (read bounded), the last one
  // perhaps cut; what fits is kept as usual and the cut names the whole.
  if (bytes <= max) return { args: [...args] };
  const kept: string[] = [];
  let used = 0;
  for (const [i, a] of args.entries()) {
    const size = sizes[i] as number;
    if (used + size <= max) {
      kept.push(a);
      used += size;
      continue;
    }
    if (max - used > 1) {
      const part = cutString(a, max - used - 1);
      kept.push(part);
      used += byteLength(part) + 1;
    }
    break;
  }
  return { args: kept, cut: { bytes, kept: used } };
}
