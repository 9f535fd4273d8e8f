import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { resolveConfig } from "../src/config.ts";
import { logrotateConfig, PLACES, unitInstalled } from "../src/doctor/checks.ts";
import { scratchDir } from "./helpers/scratch.ts";

const dir = scratchDir("sol-doctor-");
after(() => rmSync(dir, { recursive: true, force: true }));
const config = resolveConfig({ output: "/var/log/ssh-outbound-logger/log.log" }, {}, false);
const places = (over: Partial<typeof PLACES>) => ({ ...PLACES, ...over });

test("doctor's logrotate check: missing, copytruncate, another path, the shipped config", () => {
  const path = join(dir, "logrotate");
  assert.equal(logrotateConfig(config, places({ logrotate: path })).level, "warn");
  writeFileSync(path, "/var/log/ssh-outbound-logger/log.log {\n\tdaily\n\tcopytruncate\n}\n");
  assert.match(logrotateConfig(config, places({ logrotate: path })).detail, /copytruncate/);
  writeFileSync(path, "# not copytruncate\n/var/log/other.log {\n\tdaily\n}\n");
  assert.match(logrotateConfig(config, places({ logrotate: path })).detail, /does not name/);
  const shipped = new URL("../deploy/ssh-outbound-logger.logrotate", import.meta.url);
  assert.equal(logrotateConfig(config, places({ logrotate: shipped.pathname })).level, "ok");
});

test("doctor's unit check: missing, installed but not enabled, enabled", () => {
  const unit = join(dir, "unit.service");
  const wants = join(dir, "wants.service");
  assert.match(unitInstalled(places({ units: [unit], wants })).detail, /not installed/);
  writeFileSync(unit, "[Service]\n");
  assert.match(unitInstalled(places({ units: [unit], wants })).detail, /not enabled/);
  writeFileSync(wants, "");
  assert.equal(unitInstalled(places({ units: [unit], wants })).level, "ok");
});
