import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { CAP, effectiveCapabilities } from "../src/capabilities.ts";
import { IS_ROOT, needs } from "./helpers/ci.ts";

// Our effective capabilities (src/capabilities.ts), read from /proc/self/status as the kernel states them.

test("root has every capability the sources use; the same code as nobody has none", (t) => {
  if (!needs(t, IS_ROOT, "needs root (and setpriv) to compare with an unprivileged run")) return;
  const has = effectiveCapabilities();
  for (const name of Object.keys(CAP)) assert.equal(has(name as keyof typeof CAP), true, name);
  const script = `import { CAP, effectiveCapabilities } from ${JSON.stringify(new URL("../src/capabilities.ts", import.meta.url).href)};
const has = effectiveCapabilities();
console.log(JSON.stringify(Object.keys(CAP).filter((n) => has(n))));`;
  const r = spawnSync(
    "setpriv",
    [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "--inh-caps=-all",
      process.execPath,
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      script,
    ],
    { encoding: "utf8", cwd: new URL("..", import.meta.url).pathname },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});
