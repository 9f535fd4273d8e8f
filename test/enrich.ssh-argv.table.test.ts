import assert from "node:assert/strict";
import { test } from "node:test";
import { parseClientArgv, type SshTarget } from "../src/enrich/ssh-argv.ts";

type Row = [string[], Partial<SshTarget> | undefined];
const t = (client: string, rest: Partial<SshTarget> = {}): Partial<SshTarget> => ({
  client,
  jump: [],
  ...rest,
});

// Real command lines as people type them (and as wrappers such as sshfs, git and ansible run ssh).
const rows: Row[] = [
  [["ssh", "host"], t("ssh", { host: "host" })],
  [["ssh", "alice@db1"], t("ssh", { user: "alice", host: "db1" })],
  [["/usr/bin/ssh", "-p", "2222", "bob@10.0.0.5"], t("ssh", { user: "bob", host: "10.0.0.5", port: 2222 })],
  [["ssh", "-p2222", "host"], t("ssh", { host: "host", port: 2222 })],
  [["ssh", "-l", "carol", "host"], t("ssh", { user: "carol", host: "host" })],
  [["ssh", "-lcarol", "dave@host"], t("ssh", { user: "carol", host: "host" })],
  [["ssh", "dave@host", "-l", "carol"], t("ssh", { user: "dave", host: "host" })],
  [["ssh", "-o", "Port=2200", "host"], t("ssh", { host: "host", port: 2200 })],
  [["ssh", "-oPort=2201", "host"], t("ssh", { host: "host", port: 2201 })],
  [["ssh", "-o", "port 2202", "host"], t("ssh", { host: "host", port: 2202 })],
  [["ssh", "-o", "User=eve", "host"], t("ssh", { user: "eve", host: "host" })],
  [["ssh", "-p", "1", "-o", "Port=2", "host"], t("ssh", { host: "host", port: 1 })],
  [["ssh", "ssh://frank@example.org:2022"], t("ssh", { user: "frank", host: "example.org", port: 2022 })],
  [["ssh", "ssh://example.org"], t("ssh", { host: "example.org" })],
  [["ssh", "ssh://[2001:db8::1]:2222"], t("ssh", { host: "2001:db8::1", port: 2222 })],
  [["ssh", "-J", "bastion", "internal"], t("ssh", { host: "internal", jump: ["bastion"] })],
  [["ssh", "-J", "a@j1:2222,j2", "target"], t("ssh", { host: "target", jump: ["a@j1:2222", "j2"] })],
  [["ssh", "-o", "ProxyJump=gw", "target"], t("ssh", { host: "target", jump: ["gw"] })],
  [["ssh", "-o", "ProxyJump=none", "target"], t("ssh", { host: "target" })],
  [["ssh", "host", "uptime"], t("ssh", { host: "host", command: "uptime" })],
  [["ssh", "host", "ls", "-la", "/tmp"], t("ssh", { host: "host", command: "ls -la /tmp" })],
  [["ssh", "host", "-p", "2222", "uptime"], t("ssh", { host: "host", port: 2222, command: "uptime" })],
  [["ssh", "-t", "host", "sudo", "-i"], t("ssh", { host: "host", command: "sudo -i" })],
  [["ssh", "--", "host", "-p", "5"], t("ssh", { host: "host", command: "-p 5" })],
  [["ssh", "-vvv", "-A", "-C", "host"], t("ssh", { host: "host", agent: true })],
  [
    ["ssh", "-NfL", "8080:localhost:80", "tunnel@gw"],
    t("ssh", {
      user: "tunnel",
      host: "gw",
      noShell: true,
      forwards: { local: ["8080:localhost:80"], remote: [], dynamic: [] },
    }),
  ],
  [
    ["ssh", "-i", "~/.ssh/id", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "u@h"],
    t("ssh", { user: "u", host: "h", identities: ["~/.ssh/id"] }),
  ],
  [["ssh", "-Z", "-%", "host"], t("ssh", { host: "host" })],
  [["ssh", "-o", "RemoteCommand=tmux attach", "host"], t("ssh", { host: "host", command: "tmux attach" })],
  [["ssh", "user@name@host"], t("ssh", { user: "user@name", host: "host" })],
  [
    ["ssh", "-x", "-a", "-oClearAllForwardings=yes", "-2", "me@files", "-s", "sftp"],
    t("ssh", { user: "me", host: "files", command: "sftp", agent: false, x11: false }),
  ],
  [
    ["ssh", "-o", "SendEnv=GIT_PROTOCOL", "git@github.com", "git-upload-pack 'org/repo.git'"],
    t("ssh", { user: "git", host: "github.com", command: "git-upload-pack 'org/repo.git'" }),
  ],
  [["ssh", "-p"], t("ssh")],
  [["ssh", "-p", "notaport", "host"], t("ssh", { host: "host" })],
  [["scp", "file.txt", "alice@srv:/tmp/"], t("scp", { user: "alice", host: "srv" })],
  [["scp", "-P", "2222", "-r", "dir", "srv:backup/"], t("scp", { host: "srv", port: 2222 })],
  [["scp", "-l", "8000", "srv:remote", "./local"], t("scp", { host: "srv" })],
  [["scp", "./a:b/c", "x@[2001:db8::2]:/tmp"], t("scp", { user: "x", host: "2001:db8::2" })],
  [["scp", "scp://u@h:2200/path", "."], t("scp", { user: "u", host: "h", port: 2200 })],
  [["scp", "-J", "jump", "f", "h:"], t("scp", { host: "h", jump: ["jump"] })],
  [["sftp", "bob@files"], t("sftp", { user: "bob", host: "files" })],
  [["sftp", "-P", "2022", "files:/upload"], t("sftp", { host: "files", port: 2022 })],
  [["sftp", "sftp://u@h:23/dir"], t("sftp", { user: "u", host: "h", port: 23 })],
  [["sshfs", "me@nas:/data", "/mnt/nas", "-p", "2222"], t("sshfs", { user: "me", host: "nas", port: 2222 })],
  [["sshfs", "-o", "port=2223,reconnect", "nas:", "/mnt"], t("sshfs", { host: "nas", port: 2223 })],
  [
    ["autossh", "-M", "0", "-f", "-N", "-R", "2222:localhost:22", "relay@hub"],
    t("autossh", {
      user: "relay",
      host: "hub",
      noShell: true,
      forwards: { local: [], remote: ["2222:localhost:22"], dynamic: [] },
    }),
  ],
  [["autossh", "-M20000", "-p", "2200", "hub"], t("autossh", { host: "hub", port: 2200 })],
  [["dbclient", "-p", "2222", "root@router"], t("dbclient", { user: "root", host: "router", port: 2222 })],
  [
    ["dbclient", "u@hop1/22,v@hop2/2200", "uptime"],
    t("dbclient", { user: "v", host: "hop2", port: 2200, jump: ["u@hop1/22"], command: "uptime" }),
  ],
  [
    ["ssh", "-J", "b", "-W", "[db1]:22", "-L", "1:h:2", "-o", "ForwardAgent=yes", "-a", "gw"],
    t("ssh", { host: "gw", jump: ["b"], stdioForward: "[db1]:22", noShell: true, agent: false }),
  ],
  [
    [
      "ssh",
      "-o",
      "ForwardAgent=no",
      "-o",
      "ForwardAgent=yes",
      "-D",
      "1080",
      "-o",
      "LocalForward=8080 web:80",
      "h",
    ],
    t("ssh", {
      host: "h",
      agent: false,
      forwards: { local: ["8080 web:80"], remote: [], dynamic: ["1080"] },
    }),
  ],
  [
    ["ssh", "-Y", "-i", "k1", "-o", "IdentityFile=k2", "-o", "SessionType=none", "h"],
    t("ssh", { host: "h", x11: true, identities: ["k1", "k2"], noShell: true }),
  ],
  [
    ["ssh", "-S", "/run/ctl", "-O", "exit", "db1"],
    t("ssh", { host: "db1", controlPath: "/run/ctl", controlCommand: "exit" }),
  ],
  [["python3", "-c", "import socket"], undefined],
  [["nc", "host", "22"], undefined],
  [[], undefined],
];

test(`the typed target is read from ${rows.length} real command lines`, () => {
  assert.ok(rows.length >= 30);
  for (const [argv, want] of rows) {
    const got = parseClientArgv(argv);
    assert.deepEqual(got, want, argv.join(" "));
  }
});

test("OpenSSH 9.2's corners: an empty -l wins, a `--` value ends options, `#` ends a -J value", () => {
  // ssh -G -F /dev/null with each line printed these (OpenSSH 9.2p1).
  assert.equal(parseClientArgv(["ssh", "-l", "", "-l", "bob", "h"])?.user, "");
  assert.equal(parseClientArgv(["ssh", "-l", "", "bob@h"])?.user, "");
  const dashes = parseClientArgv(["ssh", "-i", "--", "h", "-l", "bob"]);
  assert.deepEqual([dashes?.user, dashes?.host, dashes?.command], [undefined, "h", "-l bob"]);
  assert.deepEqual(parseClientArgv(["ssh", "-J", "a,b#c,d", "h"])?.jump, ["a", "b"]);
  assert.deepEqual(parseClientArgv(["ssh", "-o", "ProxyJump=u@h#x:22", "h"])?.jump, ["u@h"]);
});

test("a renamed client binary is recognised by its task name", () => {
  assert.deepEqual(
    parseClientArgv(["/opt/bin/my-ssh", "-p", "7", "h"], "ssh"),
    t("ssh", { host: "h", port: 7 }),
  );
});

test("no argv, however odd, makes the parser throw", () => {
  const odd = ["-", "--", "-o", "=", "@", ":", "[", "ssh://", "ssh://[", "-J", "", "\u0000", "-p-1"];
  for (const a of odd)
    for (const b of odd) {
      for (const client of ["ssh", "scp", "sftp", "sshfs", "autossh", "dbclient"]) {
        assert.doesNotThrow(() => parseClientArgv([client, a, b, a]));
      }
    }
});
