// One concept in one file (about 440 lines with this note): the addon's N-API surface and the probe's
// life (load, attach, detach, free); the reader thread and the maps are in probe-ring.c and probe-maps.c.
// The eBPF source's loader: the BPF object compiled from probe.bpf.c (embedded in this addon, so the
// single binary carries it), loaded and attached with libbpf, its maps filled (probe-maps.c), and its
// ring buffer delivered to JavaScript by one reader thread (probe-ring.c) through a thread-safe
// function. Not a libuv poll handle on the ring buffer's descriptor: Bun, which runs the single binary,
// has no uv_poll (it panics on uv_poll_init), while thread-safe functions work the same in Node and Bun.
//
//   open(ports: number[], clients: string[], userRate: number, userBurst: number,
//        pinDir: string | null, protocol: {hooks: "socket" | "packets", cgroup: string | null} | null,
//        onRecords: (records: Buffer | Error) => void): Probe
//                                with pinDir, the probe is pinned there and outlives the daemon; one
//                                pinned by a daemon of this object is taken over (probe-pin.c); with
//                                protocol, SSH is recognised by its protocol too (probe-protocol.c;
//                                cgroup: the cgroup v2 root, for the packet hooks)
//   info(probe): {attach, pin, protocol: "socket" | "packets" | "off", protocolNote?, downSinceMonoNs,
//                 unreadableBytes}   how it was attached and found
//   backlog(probe): Buffer       once, first: the records that came while no daemon read the ring
//   execChain(probe, pid): Buffer   what the program kept of pid's exec and its ancestors' (probe.h)
//   pinned(dir): {...} | null    what is pinned there (doctor); unload(dir): takes it away
//   lost(probe): number          records the program could not reserve since a daemon last read the
//                                count (its per-CPU counter: the ring buffer was full)
//   dropped(probe): number       records read from the ring buffer that could not be handed over
//   attempts(probe): {users, destinations}  what the program counted of floods (probe.h)
//   sessionError(probe): string|null  why the session programs (unix connect, exit) are not attached
//   protocolError(probe): string|null why the protocol programs are not attached (they were wanted)
//   stop(probe): void            the programs detach, the thread stops (its last batch is queued)
//   pending(probe): number       batches handed over and not yet given to onRecords
//   flush(probe): boolean        what the ring holds now is handed over (then counted by pending);
//                                false when the thread did not answer within 50 ms
//   drain(probe): Buffer         after stop: what is still in the ring buffer, and the connects
//                                held back beyond their user's rate, read now
//   close(probe): void           free; no call to onRecords after it
//   monotonicNs(): bigint        CLOCK_MONOTONIC now, the clock of bpf_ktime_get_ns (Bun's
//                                process.hrtime counts from the process's start, not from boot)
// Stopping without losing a record: stop, let the event loop run until pending is 0, drain, close.
//
// Errors are thrown with the errno name as `code` (EPERM, EINVAL …) and a message saying which step
// failed, with the last lines libbpf printed (the verifier's, when loading fails).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>
#include <node_api.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "probe.h"
#include "probe-internal.h"

// The object file, built by clang -target bpf at npm ci (binding.gyp), included here byte for byte.
__asm__(".section .rodata\n"
        ".balign 8\n"
        ".global sol_probe_obj_start\n"
        "sol_probe_obj_start:\n"
        ".incbin \"probe.bpf.o\"\n"
        ".global sol_probe_obj_end\n"
        "sol_probe_obj_end:\n"
        ".previous\n");
extern const char sol_probe_obj_start[];
extern const char sol_probe_obj_end[];

// The two sets of programs (probe.bpf.c): BTF-typed (tp_btf, attached without tracefs) first, tracefs
// tracepoints when the kernel cannot load those. In each, the connection program, then the optional
// ones, which a kernel without them can do without: those that follow SSH clients' sessions over a
// control master, and the one that keeps each exec (for records of connections made while no daemon ran).
static const char *const PROGRAMS[2][1 + SESSION_PROGRAM_COUNT] = {
    [PROBE_ATTACH_BTF - 1] = {"on_state_btf", "on_sys_enter", "on_sys_exit", "on_exit_btf", "on_exec_btf"},
    [PROBE_ATTACH_TRACEFS - 1] = {"on_state", "on_connect_enter", "on_connect_exit", "on_exit", "on_exec"},
};

// libbpf's messages, the last few kept for an error message.
static char libbpf_log[2048];
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  vsnprintf(line, sizeof line, fmt, args);
  size_t have = strlen(libbpf_log), add = strlen(line);
  if (add >= sizeof libbpf_log) add = sizeof libbpf_log - 1;
  if (have + add >= sizeof libbpf_log) {
    memmove(libbpf_log, libbpf_log + (have + add - (sizeof libbpf_log - 1)), sizeof libbpf_log - 1 - add);
    have = sizeof libbpf_log - 1 - add;
  }
  memcpy(libbpf_log + have, line, add);
  libbpf_log[have + add] = 0;
  return 0;
}

static napi_value fail(napi_env env, const char *step, int err) {
  if (err < 0) err = -err;
  const char *name = strerrorname_np(err);
  char msg[2400];
  snprintf(msg, sizeof msg, "eBPF probe: %s failed: %s%s%s", step, strerror(err), libbpf_log[0] ? "; libbpf: " : "",
           libbpf_log);
  for (char *c = msg; *c; c++)
    if (*c == '\n') *c = ' ';
  napi_throw_error(env, name ? name : "EPROBE", msg);
  return NULL;
}

// The programs stop running (unless pinned: then they run on for the next daemon); their maps (the ring
// buffer's records, the counts) stay readable.
static void detach(Probe *p) {
  if (p->link) bpf_link__destroy(p->link);
  p->link = NULL;
  for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) {
    if (p->session_links[i]) bpf_link__destroy(p->session_links[i]);
    p->session_links[i] = NULL;
  }
  probe_detach_protocol(p);
}

static void free_probe(Probe *p) {
  if (p->wake_fd >= 0) close(p->wake_fd);
  p->wake_fd = -1;
  if (p->meta_fd >= 0) close(p->meta_fd);
  p->meta_fd = -1;
  free(p->backlog);
  p->backlog = NULL;
  p->backlog_len = 0;
  if (p->rb) ring_buffer__free(p->rb);
  detach(p);
  if (p->obj) bpf_object__close(p->obj);
  free(p->batch);
  p->rb = NULL;
  p->link = NULL;
  p->obj = NULL;
  p->batch = NULL;
}

// Detaches and frees; no call to onRecords after it.
static void release(Probe *p) {
  if (p->closed) return;
  p->closed = 1;
  probe_stop_thread(p);
  p->running = 0;
  if (p->tsfn) napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
  p->tsfn = NULL;
  free_probe(p);
}

static int load_programs(Probe *p, int set, const char *dir);

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Probe *p = data;
  release(p);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->flush_cv);
  free(p);
}

// Loads the object: the programs of SET (PROBE_ATTACH_*; 0: none, only the maps, for a probe taken over),
// with the protocol programs when they are wanted (the verifier refusing the socket hooks gives the
// packet hooks; refusing those turns detection off: the rest loads without them), each map pinned under DIR when one is given (libbpf takes over a map already
// pinned there).
static int load_object(Probe *p, int set, const char *dir) {
  int err = load_programs(p, set, dir);
  while (err < 0 && p->want_protocol) {
    bpf_object__close(p->obj);
    p->obj = NULL;
    probe_protocol_fallback(p, err, libbpf_log);
    libbpf_log[0] = 0;
    err = load_programs(p, set, dir);
  }
  return err;
}

static int load_programs(Probe *p, int set, const char *dir) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "ssh_outbound_probe");
  // The verifier gives up with EAGAIN when a signal is pending for the loading thread (a profiler's
  // SIGPROF, a SIGHUP sent during start): that is not a verdict on the program. Signals wait while it
  // runs (delivered once the mask is restored), and an EAGAIN all the same is tried again, a few times.
  for (int attempt = 0;; attempt++) {
    p->obj = bpf_object__open_mem(sol_probe_obj_start, (size_t)(sol_probe_obj_end - sol_probe_obj_start), &opts);
    if (!p->obj) return -errno;
    int err = dir ? probe_set_pin_paths(p->obj, dir) : 0;
    if (err < 0) return err;
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
      int chosen = 0;
      for (size_t i = 0; set && i <= SESSION_PROGRAM_COUNT; i++)
        chosen |= strcmp(bpf_program__name(prog), PROGRAMS[set - 1][i]) == 0;
      // Only beside the BTF-typed set (its connection program gives candidates their storage), or for a
      // probe taken over from the last daemon (whose set that was, when its programs are pinned).
      if (set != PROBE_ATTACH_TRACEFS) chosen |= probe_is_protocol_program(p, bpf_program__name(prog));
      bpf_program__set_autoload(prog, chosen);
    }
    // A fault for the tests (unset in production): the verifier refusing the socket hooks, so that the
    // fallback to the packet hooks runs against the real kernel.
    if (p->want_protocol && p->protocol_hooks == PROTOCOL_SOCKET && getenv("SSH_OUTBOUND_FAULT_SOCKET_HOOKS")) {
      snprintf(libbpf_log, sizeof libbpf_log, "refused by SSH_OUTBOUND_FAULT_SOCKET_HOOKS");
      return -EACCES;
    }
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &before);
    err = bpf_object__load(p->obj);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (err >= 0) return 0;
    if (err != -EAGAIN || attempt == 4) return err;
    bpf_object__close(p->obj);
    p->obj = NULL;
    libbpf_log[0] = 0;
  }
}

// The filters, the flood policy and the pid namespace: the configuration of this daemon.
static int configure(napi_env env, Probe *p, napi_value *argv, double rate, double burst) {
  int err = probe_fill_maps(env, p, argv[0], argv[1]);
  if (err >= 0) err = probe_set_flood(p, rate, burst);
  if (err >= 0) err = probe_set_pidns(p);
  return err;
}

// Attaches SET's programs: the connection program or an error; the session programs when they attach.
static int attach_set(Probe *p, int set) {
  struct bpf_program *prog = bpf_object__find_program_by_name(p->obj, PROGRAMS[set - 1][0]);
  p->link = prog ? bpf_program__attach(prog) : NULL;
  if (!p->link) return prog ? -errno : -ENOENT;
  p->attach = set;
  for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) {
    struct bpf_program *sp = bpf_object__find_program_by_name(p->obj, PROGRAMS[set - 1][1 + i]);
    p->session_links[i] = sp ? bpf_program__attach(sp) : NULL;
    if (!p->session_links[i]) {
      p->session_errno = sp ? errno : ENOENT;
      for (size_t j = 0; j < i; j++) {
        bpf_link__destroy(p->session_links[j]);
        p->session_links[j] = NULL;
      }
      break;
    }
  }
  return 0;
}

// Takes over the probe pinned under DIR by a daemon of this object: its maps (the ring buffer holds what
// came while no daemon read it), its links (its programs never stopped). No program is loaded.
static int take_over(napi_env env, Probe *p, napi_value *argv, double rate, double burst, const char *dir,
                     const struct probe_meta *m) {
  int err = load_object(p, 0, dir);
  if (err < 0) return err;
  p->attach = (int)m->attach;
  if (p->attach != PROBE_ATTACH_BTF && p->attach != PROBE_ATTACH_TRACEFS) return -EINVAL;
  if (!(p->link = probe_open_link(dir, PROGRAMS[p->attach - 1][0]))) return -errno;
  int sessions = 1;
  for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) sessions &= !!(p->session_links[i] = probe_open_link(dir, PROGRAMS[p->attach - 1][1 + i]));
  if (!sessions) {
    p->session_errno = ENOENT;
    for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) {
      if (p->session_links[i]) bpf_link__destroy(p->session_links[i]);
      p->session_links[i] = NULL;
    }
  }
  p->down_since_mono = m->stopped_mono_ns ? m->stopped_mono_ns : m->read_mono_ns;
  if (p->attach != PROBE_ATTACH_BTF && p->want_protocol)
    probe_protocol_failed(p, "the probe taken over", EOPNOTSUPP, "its connection program is the tracefs one");
  err = configure(env, p, argv, rate, burst);
  if (err < 0) return err;
  // The last daemon's protocol links, or new ones (pinned here); or, not wanted now, theirs taken away.
  if (probe_attach_protocol(p, dir) == 0 && dir && p->want_protocol && (err = probe_pin_protocol(p, dir)) < 0)
    p->pin_errno = -err;
  return probe_set_protocol(p);
}

// Removes the links pinned under DIR: their programs stop (unless a running daemon still holds them).
static void unpin_links(const char *dir) {
  char names[512];
  probe_link_names(dir, names, sizeof names);
  for (char *name = strtok(names, ","); name; name = strtok(NULL, ",")) {
    struct bpf_link *l = probe_open_link(dir, name);
    if (l) {
      bpf_link__unpin(l);
      bpf_link__destroy(l);
    }
  }
}

// A new probe: loaded (the BTF-typed set, else the tracefs one), configured, attached. When it
// REPLACES a probe pinned there, that one's links go just before ours attach: the kernel is without a
// probe only between the two system calls, and never has both (which would send each event twice).
// STEP names what failed.
static int load_new(napi_env env, Probe *p, napi_value *argv, double rate, double burst, const char *replaces,
                    const char **step) {
  char btf_error[1200] = "";
  int err = 0;
  for (int set = PROBE_ATTACH_BTF; set <= PROBE_ATTACH_TRACEFS; set++) {
    *step = "load (verifier)";
    err = load_object(p, set, NULL);
    if (err >= 0) {
      *step = "filling the filter maps";
      err = configure(env, p, argv, rate, burst);
    }
    if (err >= 0) {
      if (replaces) unpin_links(replaces);
      replaces = NULL;
      *step = set == PROBE_ATTACH_BTF ? "attach to tp_btf/inet_sock_set_state" : "attach to sock:inet_sock_set_state";
      err = attach_set(p, set);
    }
    if (err >= 0) {
      if (set == PROBE_ATTACH_TRACEFS && p->want_protocol)
        probe_protocol_failed(p, "recognising SSH by its protocol", EOPNOTSUPP, "needs the tp_btf program");
      probe_attach_protocol(p, NULL);
      *step = "switching protocol detection";
      err = probe_set_protocol(p);
    }
    if (err >= 0) return 0;
    free_probe(p);
    if (set == PROBE_ATTACH_BTF) {
      snprintf(btf_error, sizeof btf_error, "%s: %s (%s); ", *step, strerror(-err), libbpf_log);
      libbpf_log[0] = 0;
    }
  }
  // Both sets failed: the message says why each did.
  char both[sizeof libbpf_log];
  snprintf(both, sizeof both, "tp_btf: %s tracefs: %s", btf_error, libbpf_log);
  memcpy(libbpf_log, both, sizeof both);
  return err;
}

// Pins the probe under DIR: every map, then the links. On failure (a kernel whose links cannot be
// pinned) nothing stays pinned: the probe runs, and goes with us.
static int pin_all(Probe *p, const char *dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -errno;
  int err = bpf_object__pin_maps(p->obj, dir);
  if (err >= 0) err = probe_pin_link(p->link, dir, PROGRAMS[p->attach - 1][0]);
  for (size_t i = 0; err >= 0 && i < SESSION_PROGRAM_COUNT; i++)
    if (p->session_links[i]) err = probe_pin_link(p->session_links[i], dir, PROGRAMS[p->attach - 1][1 + i]);
  if (err >= 0) err = probe_pin_protocol(p, dir);
  if (err < 0) {
    for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++)
      if (p->session_links[i]) bpf_link__unpin(p->session_links[i]);
    for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++)
      if (p->protocol_links[i]) bpf_link__unpin(p->protocol_links[i]);
    bpf_link__unpin(p->link);
    probe_remove_pins(dir);
  }
  return err;
}

static void batch_to_backlog(Probe *p) {
  if (!p->len) return;
  char *grown = realloc(p->backlog, p->backlog_len + p->len);
  if (!grown) return;
  memcpy(grown + p->backlog_len, p->batch, p->len);
  p->backlog = grown;
  p->backlog_len += p->len;
  p->len = p->records = 0;
}

// The probe pinned under OLD (another object's, or one never completed), once ours is attached and its
// programs stopped: its ring buffer is read into the backlog when its records are of our layout (else
// their size is said), what it lost is added to ours, the sockets it tracked are tracked by ours, and
// its pins go.
static void replace_old(Probe *p, const char *old, const struct probe_meta *m) {
  int readable = m && m->record_version == PROBE_RECORD_VERSION;
  int ring = probe_pinned_fd(old, "events");
  if (ring >= 0) {
    if (readable) {
      struct ring_buffer *rb = ring_buffer__new(ring, probe_on_record, p, NULL);
      if (rb) {
        ring_buffer__consume(rb);
        ring_buffer__free(rb);
      }
      batch_to_backlog(p);
    } else {
      long waiting = probe_ring_waiting(ring);
      if (waiting > 0) p->replaced_unreadable = waiting;
    }
    close(ring);
  }
  int lost = probe_pinned_fd(old, "lost");
  if (lost >= 0 && m) {
    int cpus = libbpf_num_possible_cpus();
    __u64 *values = cpus > 0 ? calloc((size_t)cpus, sizeof(__u64)) : NULL;
    __u32 zero = 0;
    uint64_t total = 0;
    if (values && bpf_map_lookup_elem(lost, &zero, values) == 0)
      for (int i = 0; i < cpus; i++) total += values[i];
    free(values);
    if (total > m->lost_reported) p->replaced_lost = total - m->lost_reported;
  }
  if (lost >= 0) close(lost);
  int tracked = probe_pinned_fd(old, "tracked");
  int ours = bpf_object__find_map_fd_by_name(p->obj, "tracked");
  if (tracked >= 0 && ours >= 0 && readable) {
    char *rows = NULL;
    size_t len = 0;
    probe_map_rows(tracked, sizeof(__u64), sizeof(__u64), sizeof(__u8), 0, &rows, &len);
    for (size_t at = 0; at + sizeof(__u64) + 1 <= len; at += sizeof(__u64) + 1)
      bpf_map_update_elem(ours, rows + at, rows + at + sizeof(__u64), BPF_NOEXIST);
    free(rows);
  }
  if (tracked >= 0) close(tracked);
  probe_remove_pins(old);
}

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_array = false;
  napi_valuetype cb_type = napi_undefined, dir_type = napi_undefined, protocol_type = napi_undefined;
  double rate = -1, burst = -1;
  if (argc == 7) {
    napi_is_array(env, argv[0], &is_array);
    napi_get_value_double(env, argv[2], &rate);
    napi_get_value_double(env, argv[3], &burst);
    napi_typeof(env, argv[4], &dir_type);
    napi_typeof(env, argv[5], &protocol_type);
    napi_typeof(env, argv[6], &cb_type);
  }
  if (!is_array || cb_type != napi_function || !(rate >= 0) || !(burst >= 1) ||
      (dir_type != napi_string && dir_type != napi_null) || (protocol_type != napi_object && protocol_type != napi_null)) {
    napi_throw_type_error(env, NULL,
                          "open(ports: number[], clients: string[], userRate: number, userBurst: number, "
                          "pinDir: string | null, protocol: {hooks: 'socket' | 'packets', cgroup: string | null} | "
                          "null, onRecords: (records: Buffer) => void)");
    return NULL;
  }
  libbpf_log[0] = 0;
  libbpf_set_print(libbpf_print);
  Probe *p = calloc(1, sizeof *p);
  if (!p) return fail(env, "allocation", ENOMEM);
  p->lost_fd = -1;
  p->reader_fd = -1;
  p->wake_fd = -1;
  p->meta_fd = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  // Timed waits by CLOCK_MONOTONIC: a wall clock set meanwhile neither stretches nor cuts one.
  pthread_condattr_t mono;
  pthread_condattr_init(&mono);
  pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
  pthread_cond_init(&p->flush_cv, &mono);
  pthread_condattr_destroy(&mono);
  const char *dir = NULL;
  if (dir_type == napi_string) {
    size_t len = 0;
    napi_get_value_string_utf8(env, argv[4], p->pin_dir, sizeof p->pin_dir, &len);
    if (len == 0 || len >= sizeof p->pin_dir - 8 || p->pin_dir[0] != '/') {
      free(p);
      return fail(env, "the pin directory (an absolute path)", EINVAL);
    }
    dir = p->pin_dir;
  }
  if (protocol_type == napi_object) {
    napi_value hooks, cgroup;
    char name[16] = "";
    size_t len = 0;
    napi_valuetype t = napi_undefined;
    napi_get_named_property(env, argv[5], "hooks", &hooks);
    napi_get_value_string_utf8(env, hooks, name, sizeof name, &len);
    p->want_protocol = 1;
    p->protocol_hooks = strcmp(name, "packets") == 0 ? PROTOCOL_PACKETS : PROTOCOL_SOCKET;
    if (strcmp(name, "packets") != 0 && strcmp(name, "socket") != 0)
      probe_protocol_failed(p, "the hooks (socket or packets)", EINVAL, name);
    napi_get_named_property(env, argv[5], "cgroup", &cgroup);
    napi_typeof(env, cgroup, &t);
    if (t == napi_string) {
      napi_get_value_string_utf8(env, cgroup, p->cgroup, sizeof p->cgroup, &len);
      if (len == 0 || len >= sizeof p->cgroup - 1 || p->cgroup[0] != '/') {
        probe_protocol_failed(p, "the cgroup (an absolute path)", EINVAL, p->cgroup);
        p->cgroup[0] = 0;
      }
    }
  }
  const char *step = "open";
  int err = 0;
  uint64_t hash = probe_object_hash(sol_probe_obj_start, (size_t)(sol_probe_obj_end - sol_probe_obj_start));
  struct probe_meta old = {0};
  int have_old = 0;
  if (dir && (err = probe_ensure_dir(dir)) < 0) {
    // No bpffs to pin in (not mounted, read-only): the probe runs unpinned, and says why (info()).
    p->pin_errno = -err;
    dir = NULL;
  }
  if (dir) {
    have_old = probe_read_meta(dir, &old) == 0;
    if (have_old && probe_reader_alive(&old)) {
      // Another daemon reads this probe: two readers would each get part of the records. This one
      // runs a probe of its own, unpinned, and says so.
      p->pin_errno = EBUSY;
      p->busy_pid = old.reader_pid;
      dir = NULL;
      have_old = 0;
    }
  }
  if (dir) {
    if (have_old && old.object_hash == hash) {
      int wanted = p->want_protocol;
      enum probe_protocol_hooks hooks = p->protocol_hooks;
      if (take_over(env, p, argv, rate, burst, dir, &old) == 0) p->pin_mode = PIN_REUSED;
      else {
        free_probe(p);
        p->want_protocol = wanted;
        p->protocol_hooks = hooks;
        p->protocol_error[0] = 0;
        p->protocol_note[0] = 0;
      }
    }
  }
  if (p->pin_mode != PIN_REUSED) {
    // Whatever is pinned there (another object's probe, or a pinning that never completed) is replaced.
    int ring = dir ? probe_pinned_fd(dir, "events") : -1;
    int replacing = ring >= 0;
    if (ring >= 0) close(ring);
    if ((err = load_new(env, p, argv, rate, burst, replacing ? dir : NULL, &step)) < 0) goto failed;
    if (replacing) replace_old(p, dir, have_old ? &old : NULL);
    if (dir && (err = pin_all(p, dir)) < 0) {
      p->pin_errno = -err;
      dir = NULL;
    }
    if (dir) p->pin_mode = replacing ? PIN_REPLACED : PIN_FRESH;
  }
  p->lost_fd = bpf_object__find_map_fd_by_name(p->obj, "lost");
  p->reader_fd = bpf_object__find_map_fd_by_name(p->obj, "reader");
  p->meta_fd = dup(bpf_object__find_map_fd_by_name(p->obj, "meta"));
  if (dir) {
    step = "pinning the probe";
    struct probe_meta m = {0};
    if (p->pin_mode == PIN_REUSED) m = old;
    else {
      m.object_hash = hash;
      m.pinned_at_ns = probe_now(CLOCK_REALTIME);
      m.record_version = PROBE_RECORD_VERSION;
      m.attach = (__u32)p->attach;
    }
    m.stopped_mono_ns = 0;
    m.read_mono_ns = probe_now(CLOCK_MONOTONIC);
    m.complete = 1;
    m.reader_pid = (__u32)getpid();
    m.reader_start = probe_process_start(m.reader_pid);
    if ((err = probe_write_meta(p->meta_fd, &m)) < 0) goto failed;
  }
  step = "ring buffer";
  p->rb = ring_buffer__new(bpf_object__find_map_fd_by_name(p->obj, "events"), probe_on_record, p, NULL);
  if (!p->rb) {
    err = -errno;
    goto failed;
  }
  // What the ring holds now came while no daemon read it (a probe taken over): read before the thread
  // starts, for JavaScript to take first (backlog()).
  ring_buffer__consume(p->rb);
  batch_to_backlog(p);
  // In the ring buffer's own epoll set, with the data of ring 0: when it fires, ring_buffer__poll only
  // reads ring 0 once more, then returns, and the thread sees it should stop.
  step = "the stop descriptor";
  p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event wake = {.events = EPOLLIN, .data.fd = 0};
  if (p->wake_fd < 0 || epoll_ctl(ring_buffer__epoll_fd(p->rb), EPOLL_CTL_ADD, p->wake_fd, &wake) < 0) {
    err = -errno;
    goto failed;
  }
  napi_value resource_name;
  napi_create_string_utf8(env, "SshOutboundProbe", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_threadsafe_function(env, argv[6], NULL, resource_name, 0, 1, NULL, NULL, p, probe_call_js, &p->tsfn) !=
      napi_ok) {
    step = "thread-safe function";
    err = -ENOMEM;
    goto failed;
  }
  if ((err = pthread_create(&p->thread, NULL, probe_poll_thread, p)) != 0) {
    napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
    step = "starting the ring buffer thread";
    err = -err;
    goto failed;
  }
  p->running = 1;
  napi_value external;
  napi_create_external(env, p, finalize, NULL, &external);
  return external;

failed:
  free_probe(p);
  free(p);
  return fail(env, step, err);
}

static Probe *unwrap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  if (argc != 1 || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a probe from open()");
    return NULL;
  }
  return data;
}

// The program's count of records it could not reserve, since a daemon last reported it: the first
// reading of a probe taken over (or replacing another) gives what was lost while no daemon read it.
static napi_value Lost(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  double delta = 0;
  if (!p->closed && p->lost_fd >= 0) {
    int cpus = libbpf_num_possible_cpus();
    uint64_t total = 0;
    if (cpus > 0) {
      __u64 *values = calloc((size_t)cpus, sizeof(__u64));
      __u32 zero = 0;
      if (values && bpf_map_lookup_elem(p->lost_fd, &zero, values) == 0) {
        for (int i = 0; i < cpus; i++) total += values[i];
      }
      free(values);
    }
    struct probe_meta m = {0};
    __u32 zero = 0;
    if (p->meta_fd >= 0 && bpf_map_lookup_elem(p->meta_fd, &zero, &m) == 0) {
      if (total > m.lost_reported) delta = (double)(total - m.lost_reported);
      m.lost_reported = total;
      m.read_mono_ns = probe_now(CLOCK_MONOTONIC);
      probe_write_meta(p->meta_fd, &m);
    }
    delta += (double)p->replaced_lost;
    p->replaced_lost = 0;
  }
  napi_value out;
  napi_create_double(env, delta, &out);
  return out;
}

// The kernel's count of runs of one link's program it skipped (bpf_prog_info.recursion_misses): a
// tracing program is not run again on a CPU where it is already running, as when a softirq's state
// change comes while it runs for another socket. 0 when it cannot be read.
static uint64_t link_misses(struct bpf_link *link) {
  if (!link) return 0;
  struct bpf_link_info li;
  __u32 len = sizeof(li);
  memset(&li, 0, sizeof(li));
  if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &len) != 0) return 0;
  int fd = bpf_prog_get_fd_by_id(li.prog_id);
  if (fd < 0) return 0;
  struct bpf_prog_info pi;
  len = sizeof(pi);
  memset(&pi, 0, sizeof(pi));
  uint64_t misses = bpf_obj_get_info_by_fd(fd, &pi, &len) == 0 ? pi.recursion_misses : 0;
  close(fd);
  return misses;
}

// The runs the kernel skipped of every program of the probe, since each was loaded: transitions,
// execs and payloads the probe did not see, and no record says so.
static napi_value Skipped(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  uint64_t total = 0;
  if (!p->closed) {
    total += link_misses(p->link);
    for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) total += link_misses(p->session_links[i]);
    for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++) total += link_misses(p->protocol_links[i]);
  }
  napi_value out;
  napi_create_double(env, (double)total, &out);
  return out;
}

// Records read from the ring buffer that could not be handed over (not of our layouts, or the
// thread-safe function refused them while closing).
static napi_value Dropped(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  napi_create_double(env, (double)atomic_load(&p->dropped), &out);
  return out;
}

// Why the session programs are not attached (an errno's text), or null when they are.
static napi_value SessionError(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  if (p->session_errno == 0) napi_get_null(env, &out);
  else napi_create_string_utf8(env, strerror(p->session_errno), NAPI_AUTO_LENGTH, &out);
  return out;
}

// Why the protocol programs are not attached (the step and errno's text), or null when they are or none
// were asked for.
static napi_value ProtocolError(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  if (!p->protocol_error[0]) napi_get_null(env, &out);
  else napi_create_string_utf8(env, p->protocol_error, NAPI_AUTO_LENGTH, &out);
  return out;
}

// Detaches the programs (nothing more is recorded or counted), then stops the reader thread: what the
// maps hold after it is final, for drain() and attempts(). A pinned probe stays attached: what comes
// after the thread stops waits in its ring buffer for the next daemon, and its notes say since when.
static napi_value Stop(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  if (!p->closed && p->pin_mode == PIN_NONE) detach(p);
  probe_stop_thread(p);
  struct probe_meta m = {0};
  __u32 zero = 0;
  if (!p->closed && p->pin_mode != PIN_NONE && bpf_map_lookup_elem(p->meta_fd, &zero, &m) == 0) {
    m.stopped_mono_ns = m.read_mono_ns = probe_now(CLOCK_MONOTONIC);
    m.reader_pid = 0;
    m.reader_start = 0;
    probe_write_meta(p->meta_fd, &m);
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

// Batches handed over and not yet given to onRecords. Not the records still in the kernel's ring (those
// that do not wake the thread wait there up to HOLD_MS, probe-ring.c): on a busy host the ring is seldom
// empty, and a check after a loss that waited for it would wait on and on.
static napi_value Pending(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  napi_create_int32(env, p->closed ? 0 : atomic_load(&p->pending), &out);
  return out;
}

// What the program wrote to the ring before now is handed over (pending counts it) when this returns
// true: a check after a loss calls it after its picture from /proc, so a close that waited in the ring
// (up to HOLD_MS) is not taken for a lost one. False when the thread did not answer within FLUSH_WAIT_MS
// (it waits for JavaScript to catch up, or has stopped).
#define FLUSH_WAIT_MS 50
static napi_value Flush(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  napi_get_boolean(env, !p->closed && p->running && probe_flush(p, FLUSH_WAIT_MS), &out);
  return out;
}

// On the JavaScript thread, once the ring buffer thread has stopped: the records still in the ring.
static napi_value Drain(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  if (p->running) {
    napi_throw_error(env, "EBUSY", "drain(probe) needs stop(probe) first");
    return NULL;
  }
  if (!p->closed && p->rb) ring_buffer__consume(p->rb);
  // Connects held back (beyond their user's rate, not yet ended) go out too, after the ring's records:
  // they are attempts the program has not counted, and after the detach it never will.
  char *held = NULL;
  size_t held_len = 0;
  // Pinned, the program still runs and will decide on them itself.
  if (!p->closed && p->pin_mode == PIN_NONE)
    probe_map_rows(bpf_object__find_map_fd_by_name(p->obj, "quiet"), sizeof(__u64), 0, sizeof(struct probe_record), 1,
                   &held, &held_len);
  napi_value out;
  void *data;
  napi_create_buffer(env, p->len + held_len, &data, &out);
  if (p->len) memcpy(data, p->batch, p->len);
  if (held_len) memcpy((char *)data + p->len, held, held_len);
  free(held);
  p->len = p->records = 0;
  return out;
}

// What the program counted of floods (probe.h): `destinations`, the per-destination counts (struct
// probe_attempt_key then struct probe_attempts), each taken out of the map as it is read, then `users`,
// each user's counts since they were last read (uid, 4 bytes of padding, then struct
// probe_user_attempts; `last_ns` as the program has it). In that
// order: the program counts a destination before its user, so every destination's user is counted too.
static napi_value Attempts(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  char *ubuf = NULL, *dbuf = NULL;
  size_t ulen = 0, dlen = 0;
  if (!p->closed) {
    probe_map_rows(bpf_object__find_map_fd_by_name(p->obj, "attempts"), sizeof(struct probe_attempt_key),
                   sizeof(struct probe_attempt_key), sizeof(struct probe_attempts), 1, &dbuf, &dlen);
    probe_map_rows(bpf_object__find_map_fd_by_name(p->obj, "user_attempts"), sizeof(__u32), 8,
                   sizeof(struct probe_user_attempts), 0, &ubuf, &ulen);
    // Each user's counts since a daemon last read them (this one, or the one before a take-over).
    int reported = bpf_object__find_map_fd_by_name(p->obj, "reported");
    for (size_t at = 0; reported >= 0 && at + 8 + sizeof(struct probe_user_attempts) <= ulen;
         at += 8 + sizeof(struct probe_user_attempts)) {
      struct probe_user_attempts now, before = {0};
      memcpy(&now, ubuf + at + 8, sizeof now);
      bpf_map_lookup_elem(reported, ubuf + at, &before);
      bpf_map_update_elem(reported, ubuf + at, &now, BPF_ANY);
      now.count -= before.count < now.count ? before.count : now.count;
      now.unlisted -= before.unlisted < now.unlisted ? before.unlisted : now.unlisted;
      memcpy(ubuf + at + 8, &now, sizeof now);
    }
  }
  napi_value out, users, dests;
  void *copy;
  napi_create_object(env, &out);
  napi_create_buffer_copy(env, ulen, ubuf ? ubuf : "", &copy, &users);
  napi_create_buffer_copy(env, dlen, dbuf ? dbuf : "", &copy, &dests);
  free(ubuf);
  free(dbuf);
  napi_set_named_property(env, out, "users", users);
  napi_set_named_property(env, out, "destinations", dests);
  return out;
}

// What the program kept of PID's exec and of its ancestors' (probe.h's struct probe_exec, the process
// first, then its parent's, up to 16): each found by the one before's parent pid, until one is missing.
static napi_value ExecChain(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  uint32_t pid = 0;
  if (argc != 2 || napi_get_value_external(env, argv[0], &data) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &pid) != napi_ok) {
    napi_throw_type_error(env, NULL, "execChain(probe, pid: number)");
    return NULL;
  }
  Probe *p = data;
  struct probe_exec chain[16];
  size_t n = 0;
  int fd = p->closed ? -1 : bpf_object__find_map_fd_by_name(p->obj, "execs");
  while (fd >= 0 && pid > 1 && n < 16 && bpf_map_lookup_elem(fd, &pid, &chain[n]) == 0) {
    uint32_t next = chain[n].ppid;
    n++;
    for (size_t i = 0; i < n && next; i++)
      if (chain[i].pid == next) next = 0;  // a loop (a pid reused along the chain): stop
    pid = next;
  }
  napi_value out;
  void *copy;
  napi_create_buffer_copy(env, n * sizeof chain[0], chain, &copy, &out);
  return out;
}

static napi_value bigint(napi_env env, uint64_t v) {
  napi_value out;
  napi_create_bigint_uint64(env, v, &out);
  return out;
}

static napi_value str(napi_env env, const char *s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

static const char *attach_name(int attach) {
  return attach == PROBE_ATTACH_BTF ? "tp_btf" : attach == PROBE_ATTACH_TRACEFS ? "tracefs" : "unknown";
}

// How this probe runs: {attach: "tp_btf" | "tracefs", pin: "none" | "fresh" | "reused" | "replaced",
// pinError (why a pin directory was given and not used),
// downSinceMonoNs (a probe taken over: when the last daemon stopped reading, 0n when unknown),
// unreadableBytes (of a replaced probe's ring: records of another layout, not read)}.
static napi_value Info(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  static const char *const modes[] = {"none", "fresh", "reused", "replaced"};
  napi_value out, n;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "attach", str(env, attach_name(p->attach)));
  napi_set_named_property(env, out, "pin", str(env, modes[p->pin_mode]));
  int protocol_on = p->protocol_links[0] && p->protocol_links[1];
  napi_set_named_property(env, out, "protocol",
                          str(env, !protocol_on ? "off" : p->protocol_hooks == PROTOCOL_PACKETS ? "packets" : "socket"));
  if (protocol_on && p->protocol_note[0]) napi_set_named_property(env, out, "protocolNote", str(env, p->protocol_note));
  napi_set_named_property(env, out, "downSinceMonoNs", bigint(env, p->down_since_mono));
  napi_create_double(env, (double)(p->replaced_unreadable > 0 ? p->replaced_unreadable : 0), &n);
  napi_set_named_property(env, out, "unreadableBytes", n);
  if (p->pin_errno == EBUSY) {
    char why[96];
    snprintf(why, sizeof why, "another daemon (pid %u) reads the probe pinned there", p->busy_pid);
    napi_set_named_property(env, out, "pinError", str(env, why));
  } else if (p->pin_errno) {
    napi_set_named_property(env, out, "pinError", str(env, strerror(p->pin_errno)));
  }
  return out;
}

// The records read at open (what came while no daemon read the ring), once: a second call gives none.
static napi_value Backlog(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  void *data;
  napi_create_buffer_copy(env, p->backlog_len, p->backlog ? p->backlog : "", &data, &out);
  free(p->backlog);
  p->backlog = NULL;
  p->backlog_len = 0;
  return out;
}

static int string_arg(napi_env env, napi_callback_info info, char *out, size_t size) {
  size_t argc = 1, len = 0;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], out, size, &len) != napi_ok || len == 0 ||
      len >= size - 8 || out[0] != '/') {
    napi_throw_type_error(env, NULL, "expected the pin directory, an absolute path");
    return -1;
  }
  return 0;
}

// What is pinned under DIR, for doctor: null when nothing complete is, else {ours (this object),
// pinnedAtNs (CLOCK_REALTIME), attach, recordVersion, waitingBytes (in its ring buffer),
// readMonoNs, stoppedMonoNs (0n while a daemon reads it), links (names)}.
static napi_value Pinned(napi_env env, napi_callback_info info) {
  char dir[PATH_MAX];
  if (string_arg(env, info, dir, sizeof dir) < 0) return NULL;
  struct probe_meta m;
  napi_value out, v;
  if (probe_read_meta(dir, &m) < 0) {
    napi_get_null(env, &out);
    return out;
  }
  napi_create_object(env, &out);
  uint64_t hash = probe_object_hash(sol_probe_obj_start, (size_t)(sol_probe_obj_end - sol_probe_obj_start));
  napi_get_boolean(env, m.object_hash == hash, &v);
  napi_set_named_property(env, out, "ours", v);
  napi_set_named_property(env, out, "pinnedAtNs", bigint(env, m.pinned_at_ns));
  napi_set_named_property(env, out, "readMonoNs", bigint(env, m.read_mono_ns));
  napi_set_named_property(env, out, "stoppedMonoNs", bigint(env, m.stopped_mono_ns));
  napi_create_uint32(env, probe_reader_alive(&m) ? m.reader_pid : 0, &v);
  napi_set_named_property(env, out, "readerPid", v);
  napi_set_named_property(env, out, "attach", str(env, attach_name((int)m.attach)));
  napi_create_uint32(env, m.record_version, &v);
  napi_set_named_property(env, out, "recordVersion", v);
  int ring = probe_pinned_fd(dir, "events");
  long waiting = ring >= 0 ? probe_ring_waiting(ring) : -1;
  if (ring >= 0) close(ring);
  napi_create_double(env, (double)waiting, &v);
  napi_set_named_property(env, out, "waitingBytes", v);
  char names[512];
  probe_link_names(dir, names, sizeof names);
  napi_set_named_property(env, out, "links", str(env, names));
  return out;
}

// Takes the probe pinned under DIR away: its programs detach (once no daemon holds them), its maps go,
// what its ring held is discarded. Returns {removed (pins), waitingBytes (discarded)}.
static napi_value Unload(napi_env env, napi_callback_info info) {
  char dir[PATH_MAX];
  if (string_arg(env, info, dir, sizeof dir) < 0) return NULL;
  int ring = probe_pinned_fd(dir, "events");
  long waiting = ring >= 0 ? probe_ring_waiting(ring) : 0;
  if (ring >= 0) close(ring);
  int removed = probe_remove_pins(dir);
  if (removed < 0) return fail(env, "removing the pinned probe", removed);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, removed, &v);
  napi_set_named_property(env, out, "removed", v);
  napi_create_double(env, (double)(waiting > 0 ? waiting : 0), &v);
  napi_set_named_property(env, out, "waitingBytes", v);
  return out;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  release(p);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value MonotonicNs(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  napi_value out;
  napi_create_bigint_uint64(env, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "monotonicNs", NAPI_AUTO_LENGTH, MonotonicNs, NULL, &fn);
  napi_set_named_property(env, exports, "monotonicNs", fn);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_function(env, "lost", NAPI_AUTO_LENGTH, Lost, NULL, &fn);
  napi_set_named_property(env, exports, "lost", fn);
  napi_create_function(env, "sessionError", NAPI_AUTO_LENGTH, SessionError, NULL, &fn);
  napi_set_named_property(env, exports, "sessionError", fn);
  napi_create_function(env, "protocolError", NAPI_AUTO_LENGTH, ProtocolError, NULL, &fn);
  napi_set_named_property(env, exports, "protocolError", fn);
  napi_create_function(env, "stop", NAPI_AUTO_LENGTH, Stop, NULL, &fn);
  napi_set_named_property(env, exports, "stop", fn);
  napi_create_function(env, "skipped", NAPI_AUTO_LENGTH, Skipped, NULL, &fn);
  napi_set_named_property(env, exports, "skipped", fn);
  napi_create_function(env, "dropped", NAPI_AUTO_LENGTH, Dropped, NULL, &fn);
  napi_set_named_property(env, exports, "dropped", fn);
  napi_create_function(env, "pending", NAPI_AUTO_LENGTH, Pending, NULL, &fn);
  napi_set_named_property(env, exports, "pending", fn);
  napi_create_function(env, "flush", NAPI_AUTO_LENGTH, Flush, NULL, &fn);
  napi_set_named_property(env, exports, "flush", fn);
  napi_create_function(env, "drain", NAPI_AUTO_LENGTH, Drain, NULL, &fn);
  napi_set_named_property(env, exports, "drain", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, Close, NULL, &fn);
  napi_set_named_property(env, exports, "close", fn);
  napi_create_function(env, "attempts", NAPI_AUTO_LENGTH, Attempts, NULL, &fn);
  napi_set_named_property(env, exports, "attempts", fn);
  napi_create_function(env, "execChain", NAPI_AUTO_LENGTH, ExecChain, NULL, &fn);
  napi_set_named_property(env, exports, "execChain", fn);
  napi_create_function(env, "info", NAPI_AUTO_LENGTH, Info, NULL, &fn);
  napi_set_named_property(env, exports, "info", fn);
  napi_create_function(env, "backlog", NAPI_AUTO_LENGTH, Backlog, NULL, &fn);
  napi_set_named_property(env, exports, "backlog", fn);
  napi_create_function(env, "pinned", NAPI_AUTO_LENGTH, Pinned, NULL, &fn);
  napi_set_named_property(env, exports, "pinned", fn);
  napi_create_function(env, "unload", NAPI_AUTO_LENGTH, Unload, NULL, &fn);
  napi_set_named_property(env, exports, "unload", fn);
  napi_value v;
  napi_create_uint32(env, PROBE_RECORD_VERSION, &v);
  napi_set_named_property(env, exports, "recordVersion", v);
  napi_create_uint32(env, sizeof(struct probe_record), &v);
  napi_set_named_property(env, exports, "recordSize", v);
  napi_create_uint32(env, sizeof(struct probe_client_record), &v);
  napi_set_named_property(env, exports, "clientRecordSize", v);
  napi_create_uint32(env, sizeof(struct probe_exec), &v);
  napi_set_named_property(env, exports, "execSize", v);
  napi_create_uint32(env, 8 + sizeof(struct probe_user_attempts), &v);
  napi_set_named_property(env, exports, "userAttemptsSize", v);
  napi_create_uint32(env, sizeof(struct probe_attempt_key) + sizeof(struct probe_attempts), &v);
  napi_set_named_property(env, exports, "attemptsSize", v);
  return exports;
}
