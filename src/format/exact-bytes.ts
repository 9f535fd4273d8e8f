import { encodeUtf8Escaped, hasEscapedBytes } from "../bytes.ts";

/**
 * Bytes that are not UTF-8 (an argv, a file name, a process name may hold any byte but NUL), for a
 * JSON record. The ECS field gets U+FFFD for each such byte, so it is valid text for every consumer,
 * and the exact bytes go, base64, into `ssh_outbound.raw_bytes` under the field's path
 * (`process.args.2`, `ssh_outbound.ancestry.0.name`). Only fields that had such bytes are listed: a
 * user who types the four characters `\xff` and one whose argv holds the byte 0xff no longer produce
 * the same record.
 */
export class ExactBytes {
  private readonly raw: Record<string, string> = {};
  private any = false;

  text(s: string | undefined, path: string): string | undefined {
    if (s === undefined || !hasEscapedBytes(s)) return s;
    this.raw[path] = encodeUtf8Escaped(s).toString("base64");
    this.any = true;
    return s.replace(/[\udc80-\udcff]/g, "\ufffd");
  }

  list(a: readonly string[] | undefined, path: string): string[] | undefined {
    return a?.map((s, i) => this.text(s, `${path}.${i}`) as string);
  }

  /** The field → base64 map, or undefined when every string was UTF-8. */
  result(): Record<string, string> | undefined {
    return this.any ? this.raw : undefined;
  }
}
