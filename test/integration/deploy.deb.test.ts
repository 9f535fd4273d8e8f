import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hasCommand, IS_ROOT, needs } from "../helpers/ci.ts";
import { ROOT } from "../helpers/daemon.ts";
import { scratchDir } from "../helpers/scratch.ts";

const NAME = "ssh-outbound-logger";
const VERSION = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).version as string;
const ready = hasCommand("dpkg-deb");
const dir = scratchDir("sol-deb-");
let deb = "";

before(() => {
  if (!ready) return;
  const out = execFileSync("npm", ["run", "--silent", "package:deb"], { cwd: ROOT, encoding: "utf8" });
  deb = join(ROOT, out.trim().split("\n").at(-1) as string);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });

test("the .deb holds the binary, unit, logrotate and default files with Debian's owners and modes", (t) => {
  if (!needs(t, ready, "dpkg-deb is needed")) return;
  const listing = new Map(
    sh("dpkg-deb", ["-c", deb])
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/))
      .map((f) => [(f[5] as string).replace(/^\./, ""), `${f[0]} ${f[1]}`]),
  );
  const expected: Record<string, string> = {
    [`/usr/bin/${NAME}`]: "-rwxr-xr-x root/root",
    [`/lib/systemd/system/${NAME}.service`]: "-rw-r--r-- root/root",
    [`/etc/logrotate.d/${NAME}`]: "-rw-r--r-- root/root",
    [`/etc/default/${NAME}`]: "-rw-r--r-- root/root",
    [`/usr/share/doc/${NAME}/copyright`]: "-rw-r--r-- root/root",
    [`/usr/share/doc/${NAME}/changelog.gz`]: "-rw-r--r-- root/root",
    [`/usr/share/${NAME}/event.schema.json`]: "-rw-r--r-- root/root",
    // rsyslog shipping, as examples: nothing in /etc/rsyslog.d until the admin puts it there.
    [`/usr/share/doc/${NAME}/examples/rsyslog/sender.conf`]: "-rw-r--r-- root/root",
    [`/usr/share/doc/${NAME}/examples/rsyslog/collector.conf`]: "-rw-r--r-- root/root",
  };
  for (const [path, mode] of Object.entries(expected)) assert.equal(listing.get(path), mode, path);
  for (const [path, mode] of listing)
    if (path.endsWith("/")) assert.equal(mode, "drwxr-xr-x root/root", path);
  assert.ok(
    ![...listing.keys()].some((p) => p.startsWith("/etc/rsyslog")),
    "rsyslog is not enabled by the package",
  );

  execFileSync("dpkg-deb", ["-x", deb, join(dir, "root")]);
  const unit = readFileSync(join(dir, "root/lib/systemd/system", `${NAME}.service`), "utf8");
  assert.match(unit, new RegExp(`^ExecStart=/usr/bin/${NAME} run `, "m"), "the packaged unit runs /usr/bin");
  assert.doesNotMatch(unit, /\/usr\/local\//);
  const version = sh(join(dir, "root/usr/bin", NAME), ["--version"]).trim();
  assert.equal(version, VERSION);
});

test("control fields, conffiles and maintainer scripts", (t) => {
  if (!needs(t, ready, "dpkg-deb is needed")) return;
  const control = join(dir, "control");
  execFileSync("dpkg-deb", ["-e", deb, control]);
  const field = (f: string) => sh("dpkg-deb", ["-f", deb, f]).trim();
  assert.equal(field("Package"), NAME);
  assert.equal(field("Version"), VERSION);
  assert.equal(field("Architecture"), sh("dpkg", ["--print-architecture"]).trim());
  assert.match(field("Depends"), /init-system-helpers/);
  assert.match(field("Depends"), /libbpf1/, "the eBPF probe's loader links libbpf");
  assert.doesNotMatch(`${field("Depends")} ${field("Recommends")}`, /bpftrace/, "no bpftrace, no LLVM");
  assert.deepEqual(readFileSync(join(control, "conffiles"), "utf8").trim().split("\n").sort(), [
    `/etc/default/${NAME}`,
    `/etc/logrotate.d/${NAME}`,
  ]);
  for (const s of ["postinst", "prerm", "postrm"]) {
    const path = join(control, s);
    assert.equal(statSync(path).mode & 0o777, 0o755, s);
    const text = readFileSync(path, "utf8");
    assert.match(text, /^#!\/bin\/sh\nset -e\n/, `${s} is a POSIX shell script that stops on errors`);
    const syntax = spawnSync("sh", ["-n", path], { encoding: "utf8" });
    assert.equal(syntax.status, 0, `${s}: ${syntax.stderr}`);
  }
  assert.match(readFileSync(join(control, "postinst"), "utf8"), /deb-systemd-helper enable/);
  assert.match(readFileSync(join(control, "prerm"), "utf8"), /deb-systemd-invoke stop/);
});

test("lintian reports no errors", (t) => {
  if (!needs(t, ready && hasCommand("lintian"), "dpkg-deb and lintian are needed (apt-get install lintian)"))
    return;
  const r = spawnSync("lintian", ["--no-tag-display-limit", deb], { encoding: "utf8" });
  const tags = r.stdout.trim().split("\n").filter(Boolean);
  for (const tag of tags) t.diagnostic(tag);
  assert.deepEqual(
    tags.filter((l) => l.startsWith("E:")),
    [],
  );
  assert.equal(r.status, 0, r.stderr);
});

test("dpkg installs, enables and purges the package; the audit logs survive the purge", (t) => {
  const installed = spawnSync("dpkg-query", ["-W", NAME]).status === 0;
  if (
    !needs(t, ready && IS_ROOT && hasCommand("deb-systemd-helper"), "root and init-system-helpers are needed")
  )
    return;
  if (!needs(t, !installed, `${NAME} is already installed on this machine; not touching it`)) return;
  const wants = `/etc/systemd/system/multi-user.target.wants/${NAME}.service`;
  try {
    execFileSync("dpkg", ["-i", deb], { stdio: "pipe" });
    assert.equal(sh(`/usr/bin/${NAME}`, ["--version"]).trim(), VERSION);
    const logs = statSync(`/var/log/${NAME}`);
    assert.equal(logs.mode & 0o777, 0o750);
    assert.equal(logs.gid, 4, "group adm");
    assert.ok(lstatSync(wants).isSymbolicLink(), "enabled for multi-user.target");
  } finally {
    execFileSync("dpkg", ["--purge", NAME], { stdio: "pipe" });
  }
  assert.equal(existsSync(`/usr/bin/${NAME}`), false);
  assert.equal(existsSync(wants), false, "the enablement is gone with the purge");
  assert.equal(existsSync(`/etc/default/${NAME}`), false, "conffiles are purged");
  assert.ok(existsSync(`/var/log/${NAME}`), "the audit trail is kept");
  if (readdirSync(`/var/log/${NAME}`).length === 0) rmSync(`/var/log/${NAME}`, { recursive: true });
});
