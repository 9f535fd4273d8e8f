import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../src/config.ts";
import { InvalidOptionError } from "../src/errors.ts";

const invalid = (option: string, value: string) => (e: unknown) => {
  assert.ok(e instanceof InvalidOptionError);
  assert.equal(e.code, "ERR_INVALID_OPTION");
  assert.equal(e.exitCode, 2);
  assert.equal(e.option, option);
  assert.equal(e.value, value);
  assert.ok(e.message.includes(option) && e.message.includes(JSON.stringify(value)), e.message);
  return true;
};

test("defaults: 50 ms, port 22, the six clients, auto source, json when not a terminal", () => {
  const c = resolveConfig({}, {}, false);
  assert.equal(c.intervalMs, 50);
  assert.deepEqual(c.ports, [22]);
  assert.deepEqual(c.clients, ["ssh", "scp", "sftp", "sshfs", "autossh", "dbclient"]);
  assert.equal(c.source, "auto");
  assert.equal(c.format, "json");
  assert.equal(c.output, undefined);
  assert.equal(resolveConfig({}, {}, true).format, "text");
  assert.equal(
    resolveConfig({ output: "/tmp/x" }, {}, true).format,
    "json",
    "a file gets JSON even from a terminal",
  );
});

test("flags beat the environment, which beats defaults; SLEEP still sets the interval", () => {
  assert.equal(resolveConfig({}, { SLEEP: "200" }, false).intervalMs, 200);
  assert.equal(resolveConfig({}, { SLEEP: "200", SSH_OUTBOUND_INTERVAL: "300" }, false).intervalMs, 300);
  assert.equal(resolveConfig({ interval: "70" }, { SLEEP: "200" }, false).intervalMs, 70);
  assert.deepEqual(resolveConfig({}, { SSH_OUTBOUND_PORTS: "22, 2222,22" }, false).ports, [22, 2222]);
  assert.equal(resolveConfig({}, { SSH_OUTBOUND_SOURCE: "procfs" }, false).source, "procfs");
  assert.equal(resolveConfig({ output: "-" }, {}, false).output, undefined);
});

test("each bad value is named with the flag or variable that carried it", () => {
  assert.throws(() => resolveConfig({ interval: "0" }, {}, false), invalid("--interval", "0"));
  assert.throws(() => resolveConfig({ interval: "fast" }, {}, false), invalid("--interval", "fast"));
  assert.throws(() => resolveConfig({ interval: "1.5" }, {}, false), invalid("--interval", "1.5"));
  assert.throws(() => resolveConfig({}, { SLEEP: "-3" }, false), invalid("SLEEP", "-3"));
  assert.throws(() => resolveConfig({ ports: "22,70000" }, {}, false), invalid("--ports", "22,70000"));
  assert.throws(() => resolveConfig({ ports: "" }, {}, false), invalid("--ports", ""));
  assert.throws(
    () => resolveConfig({}, { SSH_OUTBOUND_PORTS: "ssh" }, false),
    invalid("SSH_OUTBOUND_PORTS", "ssh"),
  );
  assert.throws(() => resolveConfig({ format: "xml" }, {}, false), invalid("--format", "xml"));
  assert.throws(() => resolveConfig({ source: "kprobe" }, {}, false), invalid("--source", "kprobe"));
  assert.throws(
    () => resolveConfig({ clients: "a-very-long-name-x" }, {}, false),
    invalid("--clients", "a-very-long-name-x"),
  );
  assert.throws(() => resolveConfig({ output: "" }, {}, false), invalid("--output", ""));
  assert.throws(() => resolveConfig({ statsInterval: "-1" }, {}, false), invalid("--stats-interval", "-1"));
});

test("--protocol: on by default, packets and off by flag or env, anything else exits 2 naming it", () => {
  assert.equal(resolveConfig({}, {}, false).protocol, "on");
  assert.equal(resolveConfig({ protocol: "packets" }, {}, false).protocol, "packets");
  assert.equal(resolveConfig({}, { SSH_OUTBOUND_PROTOCOL: "off" }, false).protocol, "off");
  assert.equal(
    resolveConfig({ protocol: "on" }, { SSH_OUTBOUND_PROTOCOL: "off" }, false).protocol,
    "on",
    "the flag wins over the environment",
  );
  assert.throws(() => resolveConfig({ protocol: "yes" }, {}, false), invalid("--protocol", "yes"));
});
