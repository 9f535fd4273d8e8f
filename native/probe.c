// One concept in one file (about 440 lines with this note): the addon's N-API surface and the probe's
// life (load, attach, detach, free); the reader thread and the maps are in probe-ring.c and probe-maps.c.
// The eBPF source's loader: the BPF object compiled from probe.bpf.c (embedded in this addon, so the
// single binary carries it), loaded and attached with libbpf, its maps filled (probe-maps.c), and its
// ring buffer delivered to JavaScript by one reader thread (probe-ring.c) through a thread-safe
// function. Not a libuv poll handle on the ring buffer's descriptor: Bun, which runs the single binary,
// has no uv_poll (it panics on uv_poll_init), while thread-safe functions work the same in Node and Bun.
//
//   open(ports: number[], clients: string[], userRate: number, userBurst: number,
//        onRecords: (records: Buffer | Error) => void): Probe
//   lost(probe): number          records the program could not reserve (its per-CPU counter: the
//                                ring buffer was full)
//   dropped(probe): number       records read from the ring buffer that could not be handed over
//   attempts(probe): {users, destinations}  what the program counted of floods (probe.h)
//   sessionError(probe): string|null  why the session programs (unix connect, exit) are not attached
//   stop(probe): void            the programs detach, the thread stops (its last batch is queued)
//   pending(probe): number       batches handed over and not yet given to onRecords
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

// The programs that follow SSH clients' sessions over a control master. Optional: a kernel without
// syscall tracepoints (CONFIG_FTRACE_SYSCALLS) still gets the connections.
static const char *const SESSION_PROGRAMS[] = {"on_connect_enter", "on_connect_exit", "on_exit"};
_Static_assert(sizeof SESSION_PROGRAMS / sizeof SESSION_PROGRAMS[0] == SESSION_PROGRAM_COUNT,
               "probe-internal.h counts the session programs");

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

// The programs stop running; their maps (the ring buffer's records, the counts) stay readable.
static void detach(Probe *p) {
  if (p->link) bpf_link__destroy(p->link);
  p->link = NULL;
  for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) {
    if (p->session_links[i]) bpf_link__destroy(p->session_links[i]);
    p->session_links[i] = NULL;
  }
}

static void free_probe(Probe *p) {
  if (p->wake_fd >= 0) close(p->wake_fd);
  p->wake_fd = -1;
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

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Probe *p = data;
  release(p);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_array = false;
  napi_valuetype cb_type = napi_undefined;
  double rate = -1, burst = -1;
  if (argc == 5) {
    napi_is_array(env, argv[0], &is_array);
    napi_get_value_double(env, argv[2], &rate);
    napi_get_value_double(env, argv[3], &burst);
    napi_typeof(env, argv[4], &cb_type);
  }
  if (!is_array || cb_type != napi_function || !(rate >= 0) || !(burst >= 1)) {
    napi_throw_type_error(env, NULL,
                          "open(ports: number[], clients: string[], userRate: number, userBurst: number, "
                          "onRecords: (records: Buffer) => void)");
    return NULL;
  }
  libbpf_log[0] = 0;
  libbpf_set_print(libbpf_print);
  Probe *p = calloc(1, sizeof *p);
  if (!p) return fail(env, "allocation", ENOMEM);
  p->lost_fd = -1;
  p->wake_fd = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  int err;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "ssh_outbound_probe");
  // The verifier gives up with EAGAIN when a signal is pending for the loading thread (a profiler's
  // SIGPROF, a SIGHUP sent during start): that is not a verdict on the program. Signals wait while it
  // runs (delivered once the mask is restored), and an EAGAIN all the same is tried again, a few times.
  for (int attempt = 0;; attempt++) {
    p->obj = bpf_object__open_mem(sol_probe_obj_start, (size_t)(sol_probe_obj_end - sol_probe_obj_start), &opts);
    if (!p->obj) {
      err = errno;
      free(p);
      return fail(env, "open", err);
    }
    if ((err = probe_size_filters(env, p, argv[0], argv[1])) < 0) goto failed_maps;
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &before);
    err = bpf_object__load(p->obj);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (err >= 0) break;
    if (err != -EAGAIN || attempt == 4) goto failed_load;
    bpf_object__close(p->obj);
    p->obj = NULL;
    libbpf_log[0] = 0;
  }
  if ((err = probe_fill_maps(env, p, argv[0], argv[1])) < 0) goto failed_maps;
  if ((err = probe_set_flood(p, rate, burst)) < 0) goto failed_maps;
  if ((err = probe_set_pidns(p)) < 0) goto failed_maps;
  struct bpf_program *prog = bpf_object__find_program_by_name(p->obj, "on_state");
  p->link = prog ? bpf_program__attach(prog) : NULL;
  if (!p->link) {
    err = prog ? -errno : -ENOENT;
    free_probe(p);
    free(p);
    return fail(env, "attach to sock:inet_sock_set_state", err);
  }
  for (size_t i = 0; i < SESSION_PROGRAM_COUNT; i++) {
    struct bpf_program *sp = bpf_object__find_program_by_name(p->obj, SESSION_PROGRAMS[i]);
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
  p->lost_fd = bpf_object__find_map_fd_by_name(p->obj, "lost");
  p->rb = ring_buffer__new(bpf_object__find_map_fd_by_name(p->obj, "events"), probe_on_record, p, NULL);
  if (!p->rb) {
    err = -errno;
    free_probe(p);
    free(p);
    return fail(env, "ring buffer", err);
  }
  // In the ring buffer's own epoll set, with the data of ring 0: when it fires, ring_buffer__poll only
  // reads ring 0 once more, then returns, and the thread sees it should stop.
  p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event wake = {.events = EPOLLIN, .data.fd = 0};
  if (p->wake_fd < 0 || epoll_ctl(ring_buffer__epoll_fd(p->rb), EPOLL_CTL_ADD, p->wake_fd, &wake) < 0) {
    err = errno;
    free_probe(p);
    free(p);
    return fail(env, "the stop descriptor", err);
  }
  napi_value resource_name;
  napi_create_string_utf8(env, "SshOutboundProbe", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_threadsafe_function(env, argv[4], NULL, resource_name, 0, 1, NULL, NULL, p, probe_call_js, &p->tsfn) !=
      napi_ok) {
    free_probe(p);
    free(p);
    return fail(env, "thread-safe function", ENOMEM);
  }
  if ((err = pthread_create(&p->thread, NULL, probe_poll_thread, p)) != 0) {
    napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
    free_probe(p);
    free(p);
    return fail(env, "starting the ring buffer thread", err);
  }
  p->running = 1;
  napi_value external;
  napi_create_external(env, p, finalize, NULL, &external);
  return external;

failed_load:
  free_probe(p);
  free(p);
  return fail(env, "load (verifier)", err);
failed_maps:
  free_probe(p);
  free(p);
  return fail(env, "filling the filter maps", err);
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

static napi_value Lost(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  double total = 0;
  if (!p->closed && p->lost_fd >= 0) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus > 0) {
      __u64 *values = calloc((size_t)cpus, sizeof(__u64));
      __u32 zero = 0;
      if (values && bpf_map_lookup_elem(p->lost_fd, &zero, values) == 0) {
        for (int i = 0; i < cpus; i++) total += (double)values[i];
      }
      free(values);
    }
  }
  napi_value out;
  napi_create_double(env, total, &out);
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

// Detaches the programs (nothing more is recorded or counted), then stops the reader thread: what the
// maps hold after it is final, for drain() and attempts().
static napi_value Stop(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  if (!p->closed) detach(p);
  probe_stop_thread(p);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value Pending(napi_env env, napi_callback_info info) {
  Probe *p = unwrap(env, info);
  if (!p) return NULL;
  napi_value out;
  napi_create_int32(env, p->closed ? 0 : atomic_load(&p->pending), &out);
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
  if (!p->closed)
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
// every user's totals since the load (uid, 4 bytes of padding, then struct probe_user_attempts). In that
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
  napi_create_function(env, "stop", NAPI_AUTO_LENGTH, Stop, NULL, &fn);
  napi_set_named_property(env, exports, "stop", fn);
  napi_create_function(env, "dropped", NAPI_AUTO_LENGTH, Dropped, NULL, &fn);
  napi_set_named_property(env, exports, "dropped", fn);
  napi_create_function(env, "pending", NAPI_AUTO_LENGTH, Pending, NULL, &fn);
  napi_set_named_property(env, exports, "pending", fn);
  napi_create_function(env, "drain", NAPI_AUTO_LENGTH, Drain, NULL, &fn);
  napi_set_named_property(env, exports, "drain", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, Close, NULL, &fn);
  napi_set_named_property(env, exports, "close", fn);
  napi_create_function(env, "attempts", NAPI_AUTO_LENGTH, Attempts, NULL, &fn);
  napi_set_named_property(env, exports, "attempts", fn);
  napi_value v;
  napi_create_uint32(env, PROBE_RECORD_VERSION, &v);
  napi_set_named_property(env, exports, "recordVersion", v);
  napi_create_uint32(env, sizeof(struct probe_record), &v);
  napi_set_named_property(env, exports, "recordSize", v);
  napi_create_uint32(env, sizeof(struct probe_client_record), &v);
  napi_set_named_property(env, exports, "clientRecordSize", v);
  napi_create_uint32(env, 8 + sizeof(struct probe_user_attempts), &v);
  napi_set_named_property(env, exports, "userAttemptsSize", v);
  napi_create_uint32(env, sizeof(struct probe_attempt_key) + sizeof(struct probe_attempts), &v);
  napi_set_named_property(env, exports, "attemptsSize", v);
  return exports;
}
