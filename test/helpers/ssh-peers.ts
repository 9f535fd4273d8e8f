import { execFileSync } from "node:child_process";
import { PYTHON } from "./hostile.ts";

/**
 * A peer pair in one python process: a server on `port` and a client to it, `first` speaking first
 * (the other waits for its line before answering); `prelude`: the server sends another line before its
 * banner (RFC 4253 allows it), and the client answers that line with its own. `host`: 127.0.0.1, or
::1 for IPv6. Returns the python's pid.
 */
export function sshPeers(port: number, first: "client" | "server" | "prelude", host = "127.0.0.1"): number {
  const code = `
import os, socket, sys, threading
first = sys.argv[1]; port = int(sys.argv[2]); host = sys.argv[3]
srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET); srv.bind((host, port)); srv.listen(1)
def serve():
    c, _ = srv.accept()
    if first == "server": c.sendall(b"SSH-2.0-HandMade_Server\\r\\n"); c.recv(100)
    elif first == "prelude": c.sendall(b"Authorised use only\\r\\n"); c.recv(100); c.sendall(b"SSH-2.0-HandMade_Server\\r\\n")
    elif first == "client": c.recv(100); c.sendall(b"SSH-2.0-HandMade_Server\\r\\n")
    c.recv(100); c.close()
t = threading.Thread(target=serve); t.start()
k = socket.create_connection((host, port))
if first in ("server", "prelude"): k.recv(100); k.sendall(b"SSH-2.0-HandMade_Client\\r\\n")
elif first == "client": k.sendall(b"SSH-2.0-HandMade_Client\\r\\n"); k.recv(100)
k.close(); t.join()
print(os.getpid())
`;
  return Number(
    execFileSync(PYTHON, ["-c", code, first, String(port), host])
      .toString()
      .trim(),
  );
}
