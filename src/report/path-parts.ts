/**
 * The files of a report cut into one share per thread, each about as many bytes of text as the
 * others, in the files' order: a plain file may be cut anywhere (its reader finds the next line), a
 * gzip file only read whole (its size is the one gzip records at its end).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { FilePart } from "./lines.ts";

interface Sized {
  file: string;
  bytes: number;
  gz: boolean;
}

/** The text size of a file: its size, or for gzip the size it records (mod 4 GiB: a guess past that). */
function sized(file: string): Sized {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 2, 0);
    if (size < 18 || head[0] !== 0x1f || head[1] !== 0x8b) return { file, bytes: size, gz: false };
    readSync(fd, head, 0, 4, size - 4);
    return { file, bytes: Math.max(size, head.readUInt32LE(0)), gz: true };
  } catch {
    // Unreadable: its reader says so.
    return { file, bytes: 0, gz: true };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The shares, at most `threads`, none empty; one share when the whole is smaller than `minBytes`. */
export function shares(files: readonly string[], threads: number, minBytes: number): FilePart[][] {
  const all = files.map(sized);
  const total = all.reduce((a, f) => a + f.bytes, 0);
  if (threads <= 1 || total < minBytes) return [files.map((file) => ({ file }))];
  const each = total / threads;
  const out: FilePart[][] = [[]];
  let room = each;
  for (const f of all) {
    let at = 0;
    while (f.bytes - at > room && !f.gz && out.length < threads) {
      // This share ends inside the file: the next begins where it ends.
      const cut = at + Math.max(1, Math.floor(room));
      (out.at(-1) as FilePart[]).push({ file: f.file, start: at, end: cut });
      out.push([]);
      at = cut;
      room = each;
    }
    (out.at(-1) as FilePart[]).push(at === 0 ? { file: f.file } : { file: f.file, start: at });
    room -= f.bytes - at;
    if (room <= 0 && out.length < threads) {
      out.push([]);
      room = each;
    }
  }
  return out.filter((s) => s.length > 0);
}
