/**
 * The attacks of issue 19 as the scripts an unprivileged user would write (Python, run as nobody by
 * asNobody): one copy, used by the hostile tests and by the benchmark's hostile table. Each defines
 * REPORT, the counts it prints at its end (asNobody adds its CPU).
 */

/**
 * Attack 1: processes whose task is named ssh, with an argv of `size` bytes (port forwards), connect to
 * `port` again and again for `seconds`, each holding its connection half a second.
 * Arguments: port, seconds, size.
 */
export const ARGV_ATTACK = `
import ctypes, resource, socket, subprocess, sys, time
port, seconds, size = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
# A larger stack allows a larger argv (a quarter of it, up to 6 MiB): any user may raise it.
hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
resource.setrlimit(resource.RLIMIT_STACK, (hard if hard != resource.RLIM_INFINITY and hard < 64 << 20 else 64 << 20, hard))
CHILD = """
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, b"ssh", 0, 0, 0)  # PR_SET_NAME: the task is called ssh
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(64)        # the server's banner: the connection is established
time.sleep(0.5)   # held longer than any procfs poll, so a loaded machine still sees it
s.close()
"""
forwards, total, i = [], 0, 0
while total < size:
    a = "-L%d:h:%d" % (i, i)
    forwards.append(a)
    total += len(a) + 1
    i += 1
REPORT = {"connections": 0, "argv_bytes": total}
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    subprocess.run([sys.executable, "-c", CHILD, str(port)] + forwards, check=True)
    REPORT["connections"] += 1
`;

/**
 * Attack 3: a task named ssh holds 10,000 unix sockets and connects `n` times, to `n` paths of its own.
 * Arguments: n.
 */
export const UNIX_ATTACK = `
import ctypes, os, resource, socket, sys, tempfile
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
ctypes.CDLL(None).prctl(15, b"ssh", 0, 0, 0)  # PR_SET_NAME: the daemon's probe filters on it
held = [socket.socketpair(socket.AF_UNIX) for _ in range(5000)]  # 10,000 unix sockets
d = tempfile.mkdtemp()
listeners = []
for i in range(n):
    l = socket.socket(socket.AF_UNIX); l.bind(os.path.join(d, "c%d" % i)); l.listen(1); listeners.append(l)
REPORT = {"connects": 0}
for i in range(n):
    c = socket.socket(socket.AF_UNIX)
    c.connect(os.path.join(d, "c%d" % i))
    c.close()
    REPORT["connects"] += 1
`;

/**
 * Attack 5: a task named ssh holds 5,000 UDP sockets and makes a refused connect to `port` every
 * 20 ms for `seconds`. Arguments: port, seconds.
 */
export const SOCKETS_ATTACK = `
import ctypes, resource, socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 10000), hard))
ctypes.CDLL(None).prctl(15, b"ssh", 0, 0, 0)
held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(5000)]
REPORT = {"connects": 0}
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        pass
    s.close()
    REPORT["connects"] += 1
    time.sleep(0.02)
`;

/**
 * Attack 4: `n` refused connects to `port`, at `rate` a second (0: as fast as it can).
 * Arguments: port, n, rate.
 */
export const REFUSED_ATTACK = `
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
rate = float(sys.argv[3]) if len(sys.argv) > 3 else 0
REPORT = {"attempts": 0}
t0 = time.monotonic()
for i in range(n):
    if rate > 0:
        wait = t0 + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        pass
    s.close()
    REPORT["attempts"] += 1
`;

/**
 * Attack 5, namespaces: `n` processes, each in a network namespace of its own (unprivileged user
 * namespaces make that anyone's to do), held for `seconds`. Arguments: n, seconds.
 */
export const NAMESPACES_ATTACK = `
import subprocess, sys, time
n, seconds = int(sys.argv[1]), float(sys.argv[2])
kids = [subprocess.Popen(["unshare", "-Urn", "sleep", str(seconds)]) for _ in range(n)]
REPORT = {"namespaces": n}
for k in kids:
    k.wait()
`;
