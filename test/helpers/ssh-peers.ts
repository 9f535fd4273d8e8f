import { execFileSync } from "node:child_process";
import { PYTHON } from "./hostile.ts";

/**
 * A peer pair in one python process: a server on `port` and a client to it, `first` speaking first
 * (the other waits for its line before answering); `prelude`: the server sends another line before its
 * banner (RFC 4253 allows it), and the client answers that line with its own; `pieces`: the server
 * first, the client's banner in three pieces of one sendmsg (a writev: "SS", "H-2.0-HandMade",
 * "_Client\r\n"); `unpaged`: the client first, its banner sent straight from a file mapped a moment
 * before and never touched (not in memory until the kernel's copy faults it in). `host`: 127.0.0.1, or
 * ::1 for IPv6. Returns the python's pid and the client's own address and port.
 */
export type PeersFirst = "client" | "server" | "prelude" | "pieces" | "unpaged";
export function sshPeers(
  port: number,
  first: PeersFirst,
  host = "127.0.0.1",
): { pid: number; ip: string; port: number } {
  const code = `
import mmap, os, socket, sys, tempfile, threading
first = sys.argv[1]; port = int(sys.argv[2]); host = sys.argv[3]
srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET); srv.bind((host, port)); srv.listen(1)
def serve():
    c, _ = srv.accept()
    if first in ("server", "pieces"): c.sendall(b"SSH-2.0-HandMade_Server\\r\\n"); c.recv(100)
    elif first == "prelude": c.sendall(b"Authorised use only\\r\\n"); c.recv(100); c.sendall(b"SSH-2.0-HandMade_Server\\r\\n")
    elif first in ("client", "unpaged"): c.recv(100); c.sendall(b"SSH-2.0-HandMade_Server\\r\\n")
    c.recv(100); c.close()
t = threading.Thread(target=serve); t.start()
k = socket.create_connection((host, port)); local = k.getsockname()
if first in ("server", "prelude"): k.recv(100); k.sendall(b"SSH-2.0-HandMade_Client\\r\\n")
elif first == "client": k.sendall(b"SSH-2.0-HandMade_Client\\r\\n"); k.recv(100)
elif first == "pieces": k.recv(100); k.sendmsg([b"SS", b"H-2.0-HandMade", b"_Client\\r\\n"])
elif first == "unpaged":
    f = tempfile.TemporaryFile(); line = b"SSH-2.0-HandMade_Client\\r\\n"; f.write(line); f.flush()
    m = mmap.mmap(f.fileno(), len(line), prot=mmap.PROT_READ)
    k.sendmsg([memoryview(m)]); k.recv(100)
k.close(); t.join()
print(os.getpid(), local[0], local[1])
`;
  const [pid, ip, sport] = execFileSync(PYTHON, ["-c", code, first, String(port), host])
    .toString()
    .trim()
    .split(" ");
  return { pid: Number(pid), ip: ip as string, port: Number(sport) };
}
