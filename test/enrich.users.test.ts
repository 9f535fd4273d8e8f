import assert from "node:assert/strict";
import { utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Users } from "../src/enrich/users.ts";
import { scratchDir } from "./helpers/scratch.ts";

// uid → name from a passwd file (src/enrich/users.ts): the first entry of a uid wins, an unknown uid is
// its number, a missing file makes every user a number, and a changed file is read again.

test("names from the file; an unknown uid and a missing file give numbers", () => {
  const path = join(scratchDir("sol-users-"), "passwd");
  writeFileSync(
    path,
    "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/:/bin/sh\n",
  );
  const u = new Users(path);
  assert.deepEqual([u.name(0), u.name(1000), u.name(4242)], ["root", "alice", "4242"]);
  assert.equal(new Users(join(scratchDir("sol-users-"), "none")).name(0), "0");
});

test("a changed file is read again (looked at once a second at most)", async () => {
  const path = join(scratchDir("sol-users-"), "passwd");
  writeFileSync(path, "alice:x:1000:1000::/:/bin/sh\n");
  const u = new Users(path);
  assert.equal(u.name(1001), "1001");
  writeFileSync(path, "alice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n");
  const later = new Date(Date.now() + 5000);
  utimesSync(path, later, later);
  const deadline = Date.now() + 5000;
  while (u.name(1001) !== "bob" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(u.name(1001), "bob");
});
