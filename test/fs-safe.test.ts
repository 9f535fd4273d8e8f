import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  lstatSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ensureDir, openAppend, removeIfOurs, replaceFile, UnsafePathError } from "../src/fs-safe.ts";
import { scratchDir } from "./helpers/scratch.ts";

// The files a root daemon writes (src/fs-safe.ts): nothing planted at a path redirects or blocks a
// write, directories are made with the mode asked for, and only our own file is removed.

test("ensureDir makes each missing directory with the mode asked for, whatever the umask", () => {
  const dir = join(scratchDir("sol-fs-"), "a", "b", "c");
  const before = process.umask(0o077);
  try {
    ensureDir(dir, 0o750);
  } finally {
    process.umask(before);
  }
  assert.equal(statSync(dir).mode & 0o777, 0o750);
  assert.equal(statSync(join(dir, "..")).mode & 0o777, 0o750);
});

test("openAppend refuses a symlink at the path and anything that is not a regular file", () => {
  const dir = scratchDir("sol-fs-");
  const target = join(dir, "elsewhere");
  writeFileSync(target, "keep\n");
  const link = join(dir, "log.log");
  symlinkSync(target, link);
  assert.throws(() => openAppend(link), { code: "ELOOP" });
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  // Without a reader a FIFO is refused at open (ENXIO) instead of blocking; with one, as not a file.
  assert.throws(() => openAppend(fifo), { code: "ENXIO" });
  const chr = "/dev/null";
  assert.throws(() => openAppend(chr), UnsafePathError);
  const fd = openAppend(join(dir, "real.log"), 0o640);
  closeSync(fd);
  assert.equal(statSync(join(dir, "real.log")).mode & 0o777, 0o640);
  assert.equal(readFileSync(target, "utf8"), "keep\n");
});

test("replaceFile replaces a planted symlink instead of writing through it; removeIfOurs keeps a file that is not ours", () => {
  const dir = scratchDir("sol-fs-");
  const target = join(dir, "elsewhere");
  writeFileSync(target, "keep\n");
  const path = join(dir, "daemon.pid");
  symlinkSync(target, path);
  const ino = replaceFile(path, "123\n", 0o644);
  assert.ok(!lstatSync(path).isSymbolicLink());
  assert.equal(readFileSync(path, "utf8"), "123\n");
  assert.equal(readFileSync(target, "utf8"), "keep\n");
  removeIfOurs(path, ino + 1);
  assert.ok(existsSync(path), "another inode: not ours, left alone");
  removeIfOurs(path, ino);
  assert.ok(!existsSync(path));
});
