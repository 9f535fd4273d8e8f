// SSH recognised by its protocol (issue 24), the cases each of its hooks passes: real clients (a renamed
// copy of OpenSSH's, paramiko) to a real sshd on a port the daemon was not told of, hand-made peers for
// who speaks first, and real HTTP (curl, python's http.server) and TLS (openssl s_client, s_server) that
// must stay out of the trail. test/integration/ebpf.protocol*.test.ts run them, one file per hook.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkEbpf } from "../../src/sources/ebpf/check.ts";
import { hasCommand, needs } from "./ci.ts";
import { type Daemon, type Ev, NO_RATE_LIMIT, startDaemon } from "./daemon.ts";
import { PYTHON } from "./hostile.ts";
import { assertValidEvent } from "./schema.ts";
import { session } from "./session.ts";
import { runClient } from "./ssh.ts";
import { sshPeers } from "./ssh-peers.ts";
import { freePort, listening, SSHD, startSshd, type TestSshd } from "./sshd.ts";
import { waitFor } from "./wait.ts";

/**
 * The cases, with the daemon's --protocol MODE: on (the socket hooks, here) or packets; or `fallback`:
 * on, with the socket hooks refused at load (a fault injected in the addon, as a kernel without their
 * tracepoints refuses them), so that the packet hooks take their place.
 */
export function protocolTests(mode: "on" | "packets" | "fallback"): void {
  const hooks = mode === "on" ? "socket" : "packets";
  const check = SSHD ? checkEbpf() : { ok: false, reason: "sshd not installed" };
  const paramiko = (() => {
    try {
      execFileSync(PYTHON, ["-c", "import paramiko"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  let sshd: TestSshd | undefined;
  let daemon: Daemon | undefined;
  let dir = "";

  before(async () => {
    if (!check.ok) return;
    dir = mkdtempSync(join(tmpdir(), "sol-protocol-"));
    sshd = await startSshd();
    // The daemon is told of another port only: the sshd's is found by what it speaks.
    const listed = await freePort();
    daemon = startDaemon(
      [
        "run",
        "--protocol",
        mode === "packets" ? "packets" : "on",
        "--source",
        "ebpf",
        "--format",
        "json",
        "--ports",
        String(listed),
        "--stats-interval",
        "0",
        ...NO_RATE_LIMIT,
      ],
      mode === "fallback" ? { env: { SSH_OUTBOUND_FAULT_SOCKET_HOOKS: "1" } } : {},
    );
    const started = await daemon.waitFor(
      "monitor-started",
      (e) => e.event?.action === "monitor-started",
      30_000,
    );
    assert.match(
      started.ssh_outbound.monitor.reason,
      hooks === "packets"
        ? /SSH recognised by its protocol too \(cgroup_skb/
        : /SSH recognised by its protocol too \(tp_btf\/tcp_sendmsg_locked/,
      daemon.stderr(),
    );
    // The fallback is said, with why.
    if (mode === "fallback")
      assert.match(
        daemon.stderr(),
        /packet hooks, which cost more: socket hooks refused \(.*SSH_OUTBOUND_FAULT/,
      );
  });

  after(async () => {
    if (daemon) assert.equal(await daemon.stop(), 0, daemon.stderr());
    sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Both records of the connection made by `pid`, checked as one SSH connection found by its protocol. */
  async function byProtocol(d: Daemon, what: string, pid: number): Promise<[Ev, Ev]> {
    const [opened, closed] = await session(d, what, (e) => e.process?.pid === pid);
    for (const e of [opened, closed]) {
      assertValidEvent(e);
      assert.equal(e.ssh_outbound.detected_by, "protocol", `${what}: ${JSON.stringify(e)}`);
    }
    return [opened, closed];
  }

  test("a renamed copy of the OpenSSH client to an unlisted port is logged, with both banners", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    const s = sshd as TestSshd;
    const copy = join(dir, "x");
    copyFileSync("/usr/bin/ssh", copy);
    execFileSync("chmod", ["755", copy]);
    const direct = await new Promise<{ pid: number; code: number | null; err: string }>((resolve, reject) => {
      const c = spawn(copy, [...s.sshArgs, "echo", "renamed"], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr.on("data", (b) => {
        err += b;
      });
      c.on("error", reject);
      c.on("exit", (code) => resolve({ pid: c.pid as number, code, err }));
    });
    assert.equal(direct.code, 0, direct.err);
    const [opened, closed] = await byProtocol(daemon as Daemon, "the renamed client", direct.pid);
    for (const e of [opened, closed]) {
      assert.equal(e.process.name, "x");
      assert.equal(e.destination.port, s.port);
      assert.match(e.ssh_outbound.client_banner, /^SSH-2\.0-OpenSSH_\S+/);
      assert.match(e.ssh_outbound.server_banner, /^SSH-2\.0-OpenSSH_\S+/);
    }
    assert.ok(closed.source.bytes > 0 && closed.destination.bytes > 0, "bytes both ways");
  });

  test("paramiko to an unlisted port is logged with its own banner", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    if (!needs(t, paramiko, "needs python3-paramiko (Debian's)")) return;
    const s = sshd as TestSshd;
    const script = join(dir, "paramiko-client.py");
    writeFileSync(
      script,
      [
        "import os, sys, paramiko",
        "c = paramiko.SSHClient()",
        "c.set_missing_host_key_policy(paramiko.AutoAddPolicy())",
        "c.connect('127.0.0.1', port=int(sys.argv[1]), username=sys.argv[2], key_filename=sys.argv[3],",
        "          allow_agent=False, look_for_keys=False)",
        "_, out, _ = c.exec_command('echo paramiko')",
        "assert out.read().strip() == b'paramiko'",
        "c.close()",
        "print(os.getpid())",
      ].join("\n"),
    );
    const out = execFileSync(PYTHON, [script, String(s.port), s.user, join(s.dir, "user")]).toString();
    const pid = Number(out.trim());
    const [opened, closed] = await byProtocol(daemon as Daemon, "paramiko", pid);
    for (const e of [opened, closed]) {
      assert.match(e.ssh_outbound.client_banner, /^SSH-2\.0-paramiko_\d/);
      assert.match(e.ssh_outbound.server_banner, /^SSH-2\.0-OpenSSH_/);
      assert.equal(e.destination.port, s.port);
    }
  });

  test("a server that speaks first and a client that speaks first are both recognised", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    for (const first of ["server", "client"] as const) {
      const client = sshPeers(await freePort(), first);
      const [opened, closed] = await byProtocol(daemon as Daemon, `${first} first`, client.pid);
      // The socket's own addresses, read from it once its first payload said SSH, on both records.
      for (const e of [opened, closed])
        assert.deepEqual([e.source.ip, e.source.port], [client.ip, client.port]);
      assert.equal(closed.ssh_outbound.client_banner, "SSH-2.0-HandMade_Client");
      assert.equal(closed.ssh_outbound.server_banner, "SSH-2.0-HandMade_Server");
      // The opening is written once the server has spoken: a client that waited for it is not yet.
      assert.equal(opened.ssh_outbound.server_banner, "SSH-2.0-HandMade_Server");
      if (first === "client") assert.equal(opened.ssh_outbound.client_banner, "SSH-2.0-HandMade_Client");
    }
  });

  test("over IPv6 too", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    const client = sshPeers(await freePort(), "client", "::1");
    const [opened, closed] = await byProtocol(daemon as Daemon, "IPv6 peers", client.pid);
    for (const e of [opened, closed]) {
      assert.equal(e.destination.ip, "::1");
      assert.deepEqual([e.source.ip, e.source.port], ["::1", client.port]);
      assert.equal(e.network.type, "ipv6");
      assert.equal(e.ssh_outbound.client_banner, "SSH-2.0-HandMade_Client");
      assert.equal(e.ssh_outbound.server_banner, "SSH-2.0-HandMade_Server");
    }
  });

  test("a server that sends another line before its banner: recognised by the client's banner", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    const { pid } = sshPeers(await freePort(), "prelude");
    const [opened, closed] = await byProtocol(daemon as Daemon, "a server with a prelude", pid);
    for (const e of [opened, closed]) {
      assert.equal(e.ssh_outbound.client_banner, "SSH-2.0-HandMade_Client");
      assert.equal(e.ssh_outbound.server_banner, undefined, "the server's first bytes were not its banner");
    }
  });

  test("a banner written in pieces (one sendmsg of three buffers) is kept whole", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    const { pid } = sshPeers(await freePort(), "pieces");
    const [, closed] = await byProtocol(daemon as Daemon, "a banner in pieces", pid);
    assert.equal(closed.ssh_outbound.client_banner, "SSH-2.0-HandMade_Client");
    assert.equal(closed.ssh_outbound.server_banner, "SSH-2.0-HandMade_Server");
  });

  test("a client's banner sent from memory not yet paged in: still recognised, by the server's", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    const { pid } = sshPeers(await freePort(), "unpaged");
    const [opened, closed] = await byProtocol(daemon as Daemon, "an unpaged client banner", pid);
    for (const e of [opened, closed]) assert.equal(e.ssh_outbound.server_banner, "SSH-2.0-HandMade_Server");
    // The socket hooks read the application's buffer before the kernel's copy faults it in: they cannot
    // see this banner (README, What it cannot see). The packet hooks read it from the packet.
    assert.equal(
      closed.ssh_outbound.client_banner,
      hooks === "packets" ? "SSH-2.0-HandMade_Client" : undefined,
      JSON.stringify(closed.ssh_outbound),
    );
  });

  test("a client chosen by its name carries both banners too, detected_by client", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    const s = sshd as TestSshd;
    const run = await runClient([...s.sshArgs, "true"]);
    assert.equal(run.code, 0, run.stderr);
    const [opened, closed] = await session(daemon as Daemon, "ssh true", (e) => e.process?.pid === run.pid);
    for (const e of [opened, closed]) {
      assert.equal(e.ssh_outbound.detected_by, "client");
      assert.match(e.ssh_outbound.client_banner, /^SSH-2\.0-OpenSSH_/);
      assert.match(e.ssh_outbound.server_banner, /^SSH-2\.0-OpenSSH_/);
    }
  });

  /** Our probe's `watch_sets` map (the newest of that name: this daemon's). */
  function watchSets(): { id: number; max_entries: number } {
    const maps = JSON.parse(
      execFileSync("bpftool", ["-j", "map", "show", "name", "watch_sets"], { encoding: "utf8" }) || "[]",
    ) as { id: number; max_entries: number }[];
    const list = Array.isArray(maps) ? maps : [maps];
    assert.ok(list.length > 0, "the probe's watch_sets map is loaded");
    return list.reduce((a, b) => (b.id > a.id ? b : a));
  }

  /**
   * Which of these socket cookies still have a watch in our probe (the newest `watch_sets` map: this
   * daemon's). A set is named by a cookie's low bits; its value is the cookies of its 4 watches.
   */
  function stillWatched(cookies: bigint[]): bigint[] {
    const map = watchSets();
    const sets = BigInt(map.max_entries);
    const keys = cookies.map((c) => Number(c % sets));
    const batch = join(dir, "lookups");
    writeFileSync(
      batch,
      keys.map((i) => `map lookup id ${map.id} key ${i & 0xff} ${(i >> 8) & 0xff} ${i >> 16} 0\n`).join(""),
    );
    const out = JSON.parse(
      execFileSync("bpftool", ["-j", "batch", "file", batch], { encoding: "utf8", maxBuffer: 64 << 20 }),
    ) as { output: { value?: string[]; error?: string } }[];
    assert.equal(out.length, keys.length, "one answer per lookup");
    return cookies.filter((c, n) => {
      const value = out[n]?.output.value;
      assert.ok(value, `set ${keys[n]}: ${out[n]?.output.error}`);
      const held = [0, 8, 16, 24].map((at) =>
        value.slice(at, at + 8).reduceRight((v, b) => (v << 8n) | BigInt(Number(b)), 0n),
      );
      return held.includes(c);
    });
  }

  /**
   * A python script to talk with, line by line: it prints one JSON object a step and waits for a line
   * on stdin before the next. `asNobody`: run as nobody (setpriv), as an attacker would.
   */
  function conversation(code: string, args: string[], asNobody = false) {
    const argv = [PYTHON, "-c", code, ...args];
    const py = asNobody
      ? spawn("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", ...argv], {
          stdio: ["pipe", "pipe", "inherit"],
          cwd: "/tmp",
        })
      : spawn(argv[0] as string, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    let said = "";
    let taken = 0;
    py.stdout.on("data", (b: Buffer) => {
      said += b.toString();
    });
    const exited = new Promise<void>((resolve) => py.once("exit", () => resolve()));
    return {
      /** Its next JSON line. */
      async next<T>(what: string): Promise<T> {
        const line = await waitFor(
          what,
          () => said.split("\n")[taken + 1] !== undefined && said.split("\n")[taken],
          60_000,
        );
        taken++;
        return JSON.parse(line) as T;
      },
      say: () => py.stdin.write("\n"),
      async end() {
        py.stdin.end("\n");
        await exited;
      },
    };
  }

  test("a candidate's watch leaves with its socket, whatever ended it", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    if (!needs(t, hasCommand("bpftool"), "needs bpftool")) return;
    const closed = await freePort();
    const silent = await freePort();
    // 100 each: refused; accepted and closed with no byte either way; the client speaking first (not
    // SSH); the server speaking first (not SSH) and the client closing without a word. Each client's
    // cookie (SO_COOKIE, 57) is taken before its close; one more connection is held open and silent,
    // until this test says so on stdin: its watch must be there, or the others' absence proves nothing.
    const py = conversation(
      [
        "import json, socket, sys, threading",
        "closed, port = int(sys.argv[1]), int(sys.argv[2])",
        "cookie = lambda s: int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 57, 8), 'little')",
        "srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
        "srv.bind(('127.0.0.1', port)); srv.listen(512)",
        "mode = ['silent']",
        "def serve():",
        "    while True:",
        "        c, _ = srv.accept()",
        "        if mode[0] == 'server': c.sendall(b'HELLO\\r\\n')",
        "        if mode[0] == 'client': c.recv(16)",
        "        if mode[0] != 'held': c.close()",
        "threading.Thread(target=serve, daemon=True).start()",
        "refused, cookies = 0, []",
        "for _ in range(100):",
        "    s = socket.socket()",
        "    try: s.connect(('127.0.0.1', closed))",
        "    except ConnectionRefusedError: refused += 1",
        "    cookies.append(cookie(s)); s.close()",
        "for m in ['silent', 'client', 'server']:",
        "    mode[0] = m",
        "    for _ in range(100):",
        "        s = socket.create_connection(('127.0.0.1', port))",
        "        if m == 'client': s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')",
        "        if m == 'server': s.recv(16)",
        "        cookies.append(cookie(s)); s.close()",
        "mode[0] = 'held'",
        "held = socket.create_connection(('127.0.0.1', port))",
        "print(json.dumps({'refused': refused, 'cookies': [str(c) for c in cookies], 'held': str(cookie(held))}), flush=True)",
        "sys.stdin.readline()",
        "held.close()",
      ].join("\n"),
      [String(closed), String(silent)],
    );
    try {
      const got = await py.next<{ refused: number; cookies: string[]; held: string }>("the clients' cookies");
      assert.equal(got.refused, 100, "every connect to the closed port was refused");
      const cookies = got.cookies.map((c) => BigInt(c));
      assert.equal(new Set(cookies).size, 400, "400 sockets, 400 cookies");
      // The silent one still open holds its slot: a watch is there to be left.
      assert.deepEqual(
        stillWatched([BigInt(got.held)]),
        [BigInt(got.held)],
        "the open silent socket is watched",
      );
      // With no close to take them, the refused, silent and server-first ones would stay: 300 of them.
      assert.deepEqual(stillWatched(cookies), [], "no closed socket is still watched");
    } finally {
      await py.end();
    }
    assert.deepEqual(
      (daemon as Daemon).events.filter(
        (e) => e.destination?.port === closed || e.destination?.port === silent,
      ),
      [],
      "none of them is SSH",
    );
  });

  test("a waiting candidate is pushed out only by four later ones in its set (an attacker's cost)", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    if (!needs(t, hasCommand("bpftool") && hasCommand("setpriv"), "needs bpftool and setpriv")) return;
    const sets = watchSets().max_entries;
    // As nobody, on one CPU (whose cookies come one after another): a silent connection, the target;
    // then silent connections whose cookies name the target's set, each after as many throwaway
    // sockets asked for a cookie as it takes to get there (a connect whose cookie missed, another
    // socket having asked on this CPU meanwhile, is closed and tried again).
    const py = conversation(
      [
        "import json, os, socket, sys",
        "port, sets = int(sys.argv[1]), int(sys.argv[2])",
        "os.sched_setaffinity(0, {0})",
        "cookie = lambda s: int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 57, 8), 'little')",
        "srv = socket.socket(); srv.bind(('127.0.0.1', port)); srv.listen(64)",
        "asked = 0",
        "def silent_in(want):",
        "    global asked",
        "    while True:",
        "        while want is not None:",
        "            s = socket.socket(); c = cookie(s); s.close(); asked += 1",
        "            if (c + 1) % sets == want: break",
        "        k = socket.create_connection(('127.0.0.1', port)); c = cookie(k)",
        "        if want is None or c % sets == want: return k, c",
        "        k.close()",
        "target = silent_in(None)",
        "others = [silent_in(target[1] % sets) for _ in range(3)]",
        "print(json.dumps({'target': str(target[1]), 'others': [str(c) for _, c in others], 'asked': asked}), flush=True)",
        "sys.stdin.readline()",
        "fourth = silent_in(target[1] % sets)",
        "tm = os.times()",
        "print(json.dumps({'fourth': str(fourth[1]), 'asked': asked, 'cpu': tm.user + tm.system}), flush=True)",
        "sys.stdin.readline()",
      ].join("\n"),
      [String(await freePort()), String(sets)],
      true,
    );
    try {
      const first = await py.next<{ target: string; others: string[]; asked: number }>(
        "four silent sockets in one set",
      );
      const target = BigInt(first.target);
      const others = first.others.map((c) => BigInt(c));
      for (const c of others) assert.equal(c % BigInt(sets), target % BigInt(sets), "in the target's set");
      assert.deepEqual(stillWatched([target, ...others]), [target, ...others], "a set holds four");
      py.say();
      const second = await py.next<{ fourth: string; asked: number; cpu: number }>("a fifth in the set");
      const fourth = BigInt(second.fourth);
      assert.deepEqual(stillWatched([target]), [], "the fifth took the target's way: the smallest cookie");
      assert.deepEqual(stillWatched([...others, fourth]), [...others, fourth], "the later four stay");
      t.diagnostic(
        `pushing one candidate out: ${second.asked} sockets asked for a cookie, ${second.cpu.toFixed(2)} s of the attacker's CPU`,
      );
    } finally {
      await py.end();
    }
  });

  function started(cmd: string, args: string[]): ChildProcess {
    const c = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    c.stderr?.resume();
    return c;
  }

  test("HTTP (curl) and a TLS handshake (openssl) on unlisted ports are not logged", async (t) => {
    if (!needs(t, check.ok, `the eBPF source cannot run here: ${check.reason}`)) return;
    if (!needs(t, hasCommand("curl") && hasCommand("openssl"), "needs curl and openssl")) return;
    const d = daemon as Daemon;
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const http = started(PYTHON, [
      "-m",
      "http.server",
      String(httpPort),
      "--bind",
      "127.0.0.1",
      "--directory",
      dir,
    ]);
    const key = join(dir, "tls.key");
    const cert = join(dir, "tls.crt");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-days",
        "1",
        "-keyout",
        key,
        "-out",
        cert,
      ],
      { stdio: "ignore" },
    );
    const tls = started("openssl", [
      "s_server",
      "-accept",
      `127.0.0.1:${tlsPort}`,
      "-cert",
      cert,
      "-key",
      key,
      "-quiet",
    ]);
    try {
      await waitFor("the HTTP server", () => listening(httpPort, http.pid), 10_000);
      await waitFor("the TLS server", () => listening(tlsPort, tls.pid), 10_000);
      for (let i = 0; i < 3; i++) {
        execFileSync("curl", ["-sf", "-o", "/dev/null", `http://127.0.0.1:${httpPort}/`]);
        execFileSync("sh", [
          "-c",
          `openssl s_client -connect 127.0.0.1:${tlsPort} </dev/null >/dev/null 2>&1`,
        ]);
      }
      // The kernel's records come in order: once a later SSH connection is in the trail, anything of the
      // HTTP and TLS connections would be too.
      const marker = sshPeers(await freePort(), "client").pid;
      await byProtocol(d, "the marker after HTTP and TLS", marker);
      const leaked = d.events.filter(
        (e) => e.destination?.port === httpPort || e.destination?.port === tlsPort,
      );
      assert.deepEqual(leaked, [], "no record of HTTP or TLS");
    } finally {
      http.kill();
      tls.kill();
    }
  });
}
