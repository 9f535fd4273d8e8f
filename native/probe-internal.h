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
#include <stdint.h>
#include <limits.h>
#include <time.h>

#include <linux/types.h>
#include "probe.h"

// The optional programs of each set, after the connection program (probe.c names them): those that
// follow sessions over a master, and the one that keeps each exec.
#define SESSION_PROGRAM_COUNT 4
// The programs that recognise SSH by its protocol (probe-protocol.c): what is sent and what is received,
// through one of two kinds of hook.
#define PROTOCOL_PROGRAM_COUNT 2
enum probe_protocol_hooks {
  PROTOCOL_SOCKET = 0,   // TCP's tracepoints (tcp_sendmsg_locked, tcp_probe): the default
  PROTOCOL_PACKETS = 1,  // cgroup_skb on the cgroup v2 root: every IP packet, as on the wire
};

// How the probe was found: not pinned; pinned now (nothing there before); taken over from the last
// daemon (same object); pinned now in place of another object's (drained first).
enum probe_pin_mode { PIN_NONE = 0, PIN_FRESH = 1, PIN_REUSED = 2, PIN_REPLACED = 3 };

typedef struct {
  struct bpf_object *obj;
  struct bpf_link *link;
  struct bpf_link *session_links[SESSION_PROGRAM_COUNT];
  int session_errno;
  // The protocol programs (probe-protocol.c): wanted, through which hooks, attached, or why not; the
  // cgroup v2 root the packet hooks attach to ("" when there is none); why the socket hooks gave way.
  int want_protocol;
  enum probe_protocol_hooks protocol_hooks;
  char cgroup[PATH_MAX];
  char protocol_note[320];
  struct bpf_link *protocol_links[PROTOCOL_PROGRAM_COUNT];
  char protocol_error[320];
  int attach;  // PROBE_ATTACH_*
  enum probe_pin_mode pin_mode;
  int pin_errno;  // why a pin directory was given and not used
  uint32_t busy_pid;  // EBUSY: the daemon that reads the pinned probe
  char pin_dir[PATH_MAX];
  int meta_fd;
  // When the last daemon stopped reading (CLOCK_MONOTONIC; its last look when it died), for a probe
  // taken over; 0 otherwise.
  uint64_t down_since_mono;
  // Records read at open, before the thread started: the ring's backlog from while no daemon read it.
  char *backlog;
  size_t backlog_len;
  // Of a replaced probe: records it lost (not yet reported), and bytes of its ring we could not read
  // (another record layout).
  uint64_t replaced_lost;
  long replaced_unreadable;
  struct ring_buffer *rb;
  int lost_fd;
  // The program's `reader` map: set while the thread sleeps with no time limit (probe-ring.c).
  int reader_fd;
  pthread_t thread;
  int running;
  volatile int stopping;
  // Written to stop the thread or to ask it for a flush: it sits in the ring buffer's epoll set, so
  // the thread sleeps until records come, this is written, or HOLD_MS passed.
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
  // flush(): JavaScript asks (flush_asked, then wake_fd), the thread reads the ring, hands over what it
  // read and says so (flush_done, under `mu`, on flush_cv).
  atomic_uint flush_asked;
  unsigned flush_done;
  pthread_cond_t flush_cv;
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
int probe_flush(Probe *p, int wait_ms);

// The program's maps (probe-maps.c).
int probe_fill_maps(napi_env env, Probe *p, napi_value ports, napi_value clients);
int probe_set_flood(Probe *p, double rate, double burst);
int probe_set_pidns(Probe *p);
int probe_reset_set(int fd, size_t key_size, const void *keys, size_t n);
long probe_map_rows(int fd, size_t key_size, size_t key_room, size_t value_size, int take, char **buf, size_t *len);

// SSH by its protocol (probe-protocol.c).
int probe_is_protocol_program(const Probe *p, const char *name);
int probe_protocol_fallback(Probe *p, int err, const char *log);
void probe_protocol_failed(Probe *p, const char *step, int err, const char *log);
int probe_attach_protocol(Probe *p, const char *dir);
void probe_detach_protocol(Probe *p);
int probe_pin_protocol(Probe *p, const char *dir);
int probe_set_protocol(Probe *p);

// The pinned probe (probe-pin.c).
uint64_t probe_object_hash(const char *data, size_t len);
uint64_t probe_now(clockid_t clock);
int probe_ensure_dir(const char *dir);
int probe_read_meta(const char *dir, struct probe_meta *m);
int probe_write_meta(int fd, const struct probe_meta *m);
int probe_set_pin_paths(struct bpf_object *obj, const char *dir);
int probe_pin_link(struct bpf_link *link, const char *dir, const char *program);
struct bpf_link *probe_open_link(const char *dir, const char *program);
long probe_ring_waiting(int ring_fd);
int probe_pinned_fd(const char *dir, const char *name);
int probe_remove_pins(const char *dir);
void probe_link_names(const char *dir, char *out, size_t size);
uint64_t probe_process_start(uint32_t pid);
int probe_reader_alive(const struct probe_meta *m);

#endif
