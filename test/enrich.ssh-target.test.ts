import assert from "node:assert/strict";
import { test } from "node:test";
import { Target } from "../src/enrich/ssh-target.ts";

// The target collector (src/enrich/ssh-target.ts): which value wins, as ssh.c and readconf.c decide.

test("first value wins for user, port and jump hosts; -S and -A/-X set theirs outright", () => {
  const t = new Target("ssh");
  t.user("alice");
  t.user("bob");
  t.port("2222");
  t.port("22");
  t.option("ProxyJump=j1,j2");
  t.jumpFlag("j3");
  t.controlPathFlag("/a");
  t.option("ControlPath=/b");
  t.controlPathFlag("/c");
  t.option("ForwardAgent=no");
  t.agentByFlag(true);
  const r = t.done();
  assert.deepEqual(
    [r.user, r.port, r.jump, r.controlPath, r.agent],
    ["alice", 2222, ["j1", "j2"], "/c", true],
  );
});

test("a forward asked for twice is one; an identity file is kept once per way of giving it", () => {
  const t = new Target("ssh");
  t.forward("local", "8080:db:80");
  t.forward("local", "8080:db:80");
  t.option("LocalForward=8080 db:80");
  t.identity("id_a", "flag");
  t.identity("id_a", "flag");
  t.identity("id_a", "option");
  const r = t.done();
  assert.deepEqual(r.forwards?.local, ["8080:db:80"]);
  assert.deepEqual(r.identities, ["id_a", "id_a"]);
});

test("-W and ClearAllForwardings drop the forwards; a ProxyCommand before ProxyJump means no jump", () => {
  const w = new Target("ssh");
  w.forward("dynamic", "1080");
  w.t.stdioForward = "db:22";
  const r = w.done();
  assert.equal(r.forwards, undefined);
  assert.equal(r.noShell, true);
  const p = new Target("ssh");
  p.option("ProxyCommand=nc %h %p");
  p.option("ProxyJump=j1");
  assert.deepEqual(p.done().jump, []);
});
