// What the loader's three files share (probe.c: the N-API surface, loading and attaching; probe-ring.c:
// the ring buffer's reader thread and its hand-over to JavaScript; probe-maps.c: filling the program's
// maps and reading what it counted). Not part of the record layout (probe.h).
#ifndef SSH_OUTBOUND_PROBE_INTERNAL_H
#define SSH_OUTBOUND_PROBE_INTERNAL_H

#include <bpf/libbpf.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

// on_connect_enter, on_connect_exit, on_exit (probe.c names them).
#define SESSION_PROGRAM_COUNT 3

typedef struct {
  struct bpf_object *obj;
  struct bpf_link *link;
  struct bpf_link *session_links[SESSION_PROGRAM_COUNT];
  int session_errno;
  struct ring_buffer *rb;
  int lost_fd;
  pthread_t thread;
  int running;
  volatile int stopping;
  // Written to stop the thread: it sits in the ring buffer's epoll set, so the thread sleeps until
  // records come or this is written, with no periodic wake-up.
  int wake_fd;
  napi_threadsafe_function tsfn;
  atomic_int pending;
  // Bytes handed over and not yet given to onRecords. Past HANDOVER_MAX the thread waits (on `cv`)
  // for JavaScript to catch up, and stops reading the ring buffer meanwhile: the backlog stays in the
  // kernel's ring, bounded, and what does not fit there is the program's own count of lost records.
  // Memory here is bounded whatever rate the kernel produces at.
  atomic_size_t pending_bytes;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  // Records consumed from the ring buffer that could not be handed over (counted as lost).
  atomic_ullong dropped;
  // Records gathered by the thread since its last hand-over, and how many.
  char *batch;
  size_t len, cap, records;
  int closed;
} Probe;

// The reader thread (probe-ring.c): reads the ring buffer into `batch` (ring_buffer__new's callback),
// hands each batch to JavaScript, and stops when asked.
int probe_on_record(void *ctx, void *data, size_t size);
void probe_call_js(napi_env env, napi_value fn, void *context, void *data);
void *probe_poll_thread(void *arg);
void probe_stop_thread(Probe *p);

// The program's maps (probe-maps.c).
int probe_size_filters(napi_env env, Probe *p, napi_value ports, napi_value clients);
int probe_fill_maps(napi_env env, Probe *p, napi_value ports, napi_value clients);
int probe_set_flood(Probe *p, double rate, double burst);
int probe_set_pidns(Probe *p);
long probe_map_rows(int fd, size_t key_size, size_t key_room, size_t value_size, int take, char **buf, size_t *len);

#endif
