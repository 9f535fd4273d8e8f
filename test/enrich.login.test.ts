import assert from "node:assert/strict";
import { test } from "node:test";
import { placeOf } from "../src/enrich/cgroup.ts";
import { Logins, userChanges } from "../src/enrich/login.ts";
import { auditId, cgroupPath, type ProcessFacts } from "../src/enrich/process.ts";

// The login behind a process (src/enrich/login.ts) from process facts as /proc gives them; the real
// thing, with a PAM sshd, sudo, su, tmux and cron, is test/integration/login.pam.test.ts.

let ticks = 1000;
function proc(
  pid: number,
  ppid: number,
  name: string,
  uid: number,
  o: Partial<ProcessFacts> = {},
): ProcessFacts {
  return { pid, ppid, name, args: [name], startNs: 0n, startTicks: ticks++, uid, euid: uid, ...o };
}

const ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

test("cgroup paths: the innermost unit, and the container of docker, podman, containerd and CRI-O", () => {
  const cases: [string, ReturnType<typeof placeOf>][] = [
    ["/", {}],
    ["/system.slice/cron.service", { unit: "cron.service" }],
    ["/user.slice/user-1000.slice/session-3.scope", { unit: "session-3.scope" }],
    [
      "/user.slice/user-1000.slice/user@1000.service/app.slice/tmux-spawn-1.scope",
      { unit: "tmux-spawn-1.scope" },
    ],
    [
      `/system.slice/docker-${ID}.scope`,
      { unit: `docker-${ID}.scope`, container: { id: ID, runtime: "docker" } },
    ],
    [`/docker/${ID}`, { container: { id: ID, runtime: "docker" } }],
    [
      `/machine.slice/libpod-${ID}.scope/container`,
      { unit: `libpod-${ID}.scope`, container: { id: ID, runtime: "podman" } },
    ],
    [`/libpod_parent/libpod-${ID}`, { container: { id: ID, runtime: "podman" } }],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-${ID}.scope`,
      { unit: `cri-containerd-${ID}.scope`, container: { id: ID, runtime: "containerd" } },
    ],
    [`/kubepods/besteffort/pod1234/${ID}`, { container: { id: ID, runtime: "containerd" } }],
    [`/system.slice/crio-${ID}.scope`, { unit: `crio-${ID}.scope`, container: { id: ID, runtime: "cri-o" } }],
    // 64 hex digits alone, under no runtime's directory: not said to be a container.
    [`/mine/${ID}`, {}],
  ];
  for (const [path, place] of cases) assert.deepEqual(placeOf(path), place, path);
});

test("the cgroup file's v2 line, else v1's systemd hierarchy; loginuid and sessionid with the kernel's unset", () => {
  assert.equal(cgroupPath("0::/system.slice/cron.service\n"), "/system.slice/cron.service");
  assert.equal(cgroupPath("9:name=systemd:/user.slice/x.scope\n4:memory:/a\n"), "/user.slice/x.scope");
  assert.equal(cgroupPath("4:memory:/a\n"), undefined);
  assert.deepEqual(["1000", "4294967295", "", "x", undefined].map(auditId), [
    1000,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

test("sshd login: entry sshd, the login shell as leader, sudo as the change alice → root", () => {
  const chain = [
    proc(1, 0, "systemd", 0),
    proc(100, 1, "sshd", 0),
    proc(900, 100, "sshd", 0, { loginUid: 1000, auditSession: 7 }),
    proc(905, 900, "sshd", 1000, { loginUid: 1000, auditSession: 7 }),
    proc(910, 905, "bash", 1000, { loginUid: 1000, auditSession: 7, args: ["bash", "-c", "x".repeat(5000)] }),
    proc(920, 910, "sudo", 1000, { euid: 0, loginUid: 1000, auditSession: 7 }),
    proc(921, 920, "sudo", 0, { loginUid: 1000, auditSession: 7 }),
    proc(930, 921, "ssh", 0, {
      loginUid: 1000,
      auditSession: 7,
      cgroup: "/user.slice/user-1000.slice/session-7.scope",
    }),
  ];
  const logins = new Logins(() => undefined);
  const found = logins.of(chain);
  assert.ok(found);
  assert.equal(found.login.entry, "sshd");
  assert.equal(found.login.uid, 1000);
  assert.equal(found.login.session, 7);
  assert.deepEqual(found.login.program, { pid: 900, name: "sshd" });
  assert.equal(found.login.leader?.pid, 910);
  // Remembered for the login's life, so kept as an ancestor's argv is: 1 KiB, the whole size said.
  assert.ok((found.login.leader?.args.join("\0").length ?? 0) <= 1024, "the leader's argv is cut");
  assert.equal(found.login.leader?.argsBytes, "bash\0-c\0".length + 5001);
  assert.deepEqual(found.changes, [{ pid: 921, from: 1000, to: 0, via: "sudo" }]);
  assert.deepEqual(found.place, { unit: "session-7.scope" });
  assert.equal(logins.scans, 0, "the entry was in the ancestry: no scan");
});

test("su from root to bob, a cron job, and a service with no login", () => {
  const su = userChanges(
    [proc(10, 1, "bash", 0), proc(11, 10, "su", 0), proc(12, 11, "bash", 1001), proc(13, 12, "ssh", 1001)],
    0,
  );
  assert.deepEqual(su, [{ pid: 12, from: 0, to: 1001, via: "su" }]);
  // A setuid program that takes its owner's uid itself (no privileged parent) is its own "via".
  assert.deepEqual(userChanges([proc(20, 1, "bash", 1000), proc(21, 20, "mytool", 1002)], 1000), [
    { pid: 21, from: 1000, to: 1002, via: "mytool" },
  ]);
  const logins = new Logins(() => undefined);
  const cron = logins.of([
    proc(1, 0, "init", 0),
    proc(50, 1, "cron", 0),
    proc(60, 50, "cron", 0, { loginUid: 1000, auditSession: 9 }),
    proc(61, 60, "sh", 1000, { loginUid: 1000, auditSession: 9 }),
    proc(62, 61, "ssh", 1000, { loginUid: 1000, auditSession: 9 }),
  ]);
  assert.equal(cron?.login.entry, "cron");
  assert.equal(cron?.login.leader?.name, "sh");
  assert.deepEqual(cron?.changes, []);
  const service = logins.of([
    proc(1, 0, "systemd", 0),
    proc(70, 1, "backup", 0, { cgroup: "/system.slice/backup.service" }),
    proc(71, 70, "ssh", 0, { cgroup: "/system.slice/backup.service" }),
  ]);
  assert.deepEqual(service?.login, { entry: "systemd", unit: "backup.service" });
});

test("a login whose entry is not in the ancestry (a tmux server) is looked for once, and remembered", () => {
  const read: number[] = [];
  const logins = new Logins((pid) => {
    read.push(pid);
    return undefined;
  });
  const chain = [
    proc(1, 0, "systemd", 0),
    proc(500, 1, "tmux: server", 1000, { loginUid: 1000, auditSession: 2 ** 31 }),
    proc(501, 500, "bash", 1000, { loginUid: 1000, auditSession: 2 ** 31 }),
    proc(502, 501, "ssh", 1000, { loginUid: 1000, auditSession: 2 ** 31 }),
  ];
  const first = logins.of(chain);
  // No process of this host has that session: the entry is unknown, the login user still known.
  assert.deepEqual(first?.login, { entry: "unknown", uid: 1000, session: 2 ** 31 });
  assert.equal(logins.scans, 1);
  logins.of(chain);
  assert.equal(logins.scans, 1, "a second connection of the same login does not scan again");
});
