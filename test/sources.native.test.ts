import assert from "node:assert/strict";
import { test } from "node:test";
import { nativeAddon } from "../src/sources/native.ts";
import { NAME, VERSION } from "../src/version.ts";

// Loading a native addon once (src/sources/native.ts): a load that fails, or an addon refused by its
// check (a stale build), is null with the first line of why, and is not tried again.

test("loaded once; a failed load or a refused addon is null, saying why", () => {
  let loads = 0;
  const ok = nativeAddon<{ v: number }>(() => {
    loads++;
    return { v: 1 };
  });
  assert.equal(ok.get()?.v, 1);
  assert.equal(ok.get()?.v, 1);
  assert.equal(loads, 1);
  const missing = nativeAddon(() => {
    throw new Error("Cannot find module 'probe.node'\nRequire stack: …");
  });
  assert.equal(missing.get(), null);
  assert.equal(missing.error(), "Cannot find module 'probe.node'");
  const stale = nativeAddon<{ v: number }>(
    () => ({ v: 1 }),
    (a) => {
      if (a.v !== 2) throw new Error("the addon's records are not this version's");
    },
  );
  assert.equal(stale.get(), null);
  assert.match(stale.error(), /not this version's/);
});

test("the name and version come from package.json", async () => {
  const { default: pkg } = await import("../package.json", { with: { type: "json" } });
  assert.deepEqual([NAME, VERSION], [pkg.name, pkg.version]);
});
