/**
 * Where a process runs, told by its cgroup path (/proc/PID/cgroup): the systemd unit that holds it
 * and the container, when a container runtime made the cgroup. Only the path's names are read; a
 * path is set by whoever made the cgroup (systemd, the runtime), not by the process itself, though a
 * process with the rights to make cgroups may name one as it likes: the record says what the path
 * says.
 */

export interface Container {
  /** The runtime's id for it (64 hex digits). */
  id: string;
  runtime: "docker" | "podman" | "containerd" | "cri-o";
}

export interface Place {
  /** The innermost systemd unit: `cron.service`, `session-3.scope`, `docker-….scope`. */
  unit?: string;
  container?: Container;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Scope names runtimes give a container's cgroup under systemd: prefix-ID.scope. */
const SCOPE_PREFIX: Record<string, Container["runtime"]> = {
  docker: "docker",
  libpod: "podman",
  "cri-containerd": "containerd",
  crio: "cri-o",
};

/** Parent directories of a container's cgroup when the runtime manages cgroups itself (cgroupfs). */
const DIRECTORY: Record<string, Container["runtime"]> = {
  docker: "docker",
  libpod_parent: "podman",
};

function containerOf(parts: string[]): Container | undefined {
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    const scope = /^([a-z-]+)-([0-9a-f]{64})\.scope$/.exec(part);
    const runtime = scope && SCOPE_PREFIX[scope[1] as string];
    if (scope && runtime) return { id: scope[2] as string, runtime };
    const bare = part.startsWith("libpod-") ? part.slice("libpod-".length) : part;
    if (!HEX64.test(bare)) continue;
    const parent = parts[i - 1] ?? "";
    const dir = DIRECTORY[parent];
    if (dir) return { id: bare, runtime: dir };
    // Kubernetes with the cgroupfs driver: /kubepods/<qos>/pod<uid>/<id>, made by containerd or CRI-O;
    // which one the path does not say.
    if (parts.includes("kubepods") && parent.startsWith("pod")) return { id: bare, runtime: "containerd" };
  }
  return undefined;
}

/** The unit and container a cgroup path names; empty for the root cgroup or an unknown layout. */
export function placeOf(path: string | undefined): Place {
  if (path === undefined) return {};
  const parts = path.split("/").filter((p) => p.length > 0);
  const place: Place = {};
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    if (part.endsWith(".service") || part.endsWith(".scope")) {
      place.unit = part;
      break;
    }
  }
  const container = containerOf(parts);
  if (container) place.container = container;
  return place;
}
