// The eBPF source's ring-buffer delivery: one thread sleeps in epoll on the ring buffer
// (ring_buffer__poll) and hands every record that is ready, as one Buffer, to the event loop through a
// thread-safe function. One thread for the probe, not one per event; while records come it looks at the
// ring every HOLD_MS (a few microseconds), once a look found nothing it sleeps until a record wakes it,
// and the event loop wakes only when there are records.
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/types.h>
#include <pthread.h>
#include <stdint.h>

#include "probe.h"
#include "probe-internal.h"

// The pause after a hand-over (see poll_thread): 2 ms.
#define GATHER_NS 2000000L

// How long a record that does not wake the thread may wait in the ring (probe.bpf.c, wake()): the
// thread looks this often while records come; after a look that found nothing it sleeps until one
// wakes it.
#define HOLD_MS 100

// What the hand-over queue may hold: twice the kernel's ring buffer (4 MiB, probe.bpf.c).
#define HANDOVER_MAX (8u << 20)

typedef struct {
  char *data;
  size_t len, records;
  int error;  // ring_buffer__poll's error, when the thread stops on one
} Batch;

int probe_on_record(void *ctx, void *data, size_t size) {
  Probe *p = ctx;
  // Only the two layouts of probe.h: anything else cannot be read, and is counted as lost.
  if (size != sizeof(struct probe_record) && size != sizeof(struct probe_client_record)) {
    atomic_fetch_add(&p->dropped, 1);
    return 0;
  }
  if (p->len + size > p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64 * sizeof(struct probe_record);
    char *grown = realloc(p->batch, cap);
    if (!grown) return -ENOMEM;
    p->batch = grown;
    p->cap = cap;
  }
  memcpy(p->batch + p->len, data, size);
  p->len += size;
  p->records++;
  return 0;
}

// On the JavaScript thread: one Buffer per batch (or an Error when the thread stopped on one).
void probe_call_js(napi_env env, napi_value fn, void *context, void *data) {
  Probe *p = context;
  Batch *b = data;
  if (env && fn) {
    atomic_fetch_sub(&p->pending, 1);
    atomic_fetch_sub(&p->pending_bytes, b->len);
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    napi_value arg, recv;
    napi_get_undefined(env, &recv);
    if (b->error) {
      napi_value code, msg;
      napi_create_string_utf8(env, strerrorname_np(b->error) ? strerrorname_np(b->error) : "EPROBE", NAPI_AUTO_LENGTH, &code);
      napi_create_string_utf8(env, strerror(b->error), NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, code, msg, &arg);
    } else {
      void *copy;
      napi_create_buffer_copy(env, b->len, b->data, &copy, &arg);
    }
    napi_call_function(env, recv, fn, 1, &arg, NULL);
  }
  free(b->data);
  free(b);
}

static void hand_over(Probe *p, int error) {
  Batch *b = calloc(1, sizeof *b);
  if (!b) return;
  b->error = error;
  if (!error) {
    b->data = p->batch;
    b->len = p->len;
    b->records = p->records;
    p->batch = NULL;
    p->len = p->cap = p->records = 0;
  }
  atomic_fetch_add(&p->pending, 1);
  atomic_fetch_add(&p->pending_bytes, b->len);
  if (napi_call_threadsafe_function(p->tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
    atomic_fetch_sub(&p->pending, 1);
    atomic_fetch_sub(&p->pending_bytes, b->len);
    atomic_fetch_add(&p->dropped, b->records);
    free(b->data);
    free(b);
  }
}

// Tells the program whether the thread sleeps with no time limit (every record then wakes it).
static void set_asleep(Probe *p, __u32 asleep) {
  __u32 zero = 0;
  if (p->reader_fd >= 0) bpf_map_update_elem(p->reader_fd, &zero, &asleep, BPF_ANY);
}

void *probe_poll_thread(void *arg) {
  Probe *p = arg;
  // The last look found nothing: the next sleep has no time limit.
  int idle = 0;
  // Fault injection for the tests: a reader this late to answer a flush (a thread the scheduler left
  // waiting), so that flush()'s time limit is reached for real.
  const char *late = getenv("SSH_OUTBOUND_FAULT_FLUSH_LATE_MS");
  long late_ms = late ? strtol(late, NULL, 10) : 0;
  while (!p->stopping) {
    pthread_mutex_lock(&p->mu);
    while (!p->stopping && atomic_load(&p->pending_bytes) > HANDOVER_MAX) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (p->stopping) break;
    // Sleeps until a record that wakes it is ready (probe.bpf.c, wake(): a connect, whose process is
    // read while it runs; the close of a connection that received nothing; any record while idle),
    // wake_fd is written (stop, flush), or HOLD_MS passed: then the records that did not wake it are
    // read. A connection's other records mostly ride with the next that wakes, or come at most HOLD_MS
    // late: one wake-up of the event loop for many records, not one each.
    // Idle: the program is told first, so that from now on every record wakes the thread; one written
    // just before is read now, and then there is no sleep. A host with no SSH costs no look at all.
    int timeout = HOLD_MS;
    if (idle) {
      set_asleep(p, 1);
      if (ring_buffer__consume(p->rb) == 0 && p->len == 0) {
        timeout = -1;
      } else {
        set_asleep(p, 0);
        timeout = 0;
      }
    }
    int n = ring_buffer__poll(p->rb, timeout);
    if (timeout < 0) set_asleep(p, 0);
    if (n == 0 && !p->stopping) n = ring_buffer__consume(p->rb);
    // A flush asked (wake_fd written): its descriptor is emptied first, then what was asked is read, so
    // a flush asked after this point wakes the next poll again. The ring is read once more: what the
    // program wrote before the ask is in this hand-over.
    unsigned asked = p->flush_done;
    if (!p->stopping) {
      uint64_t count;
      if (read(p->wake_fd, &count, sizeof count) < 0) { /* EAGAIN: not written since */ }
      asked = atomic_load(&p->flush_asked);
      if (asked != p->flush_done && late_ms > 0) {
        struct timespec wait = {late_ms / 1000, (late_ms % 1000) * 1000000L};
        nanosleep(&wait, NULL);
      }
      if (asked != p->flush_done && n >= 0) n = ring_buffer__consume(p->rb);
    }
    if (n < 0 && n != -EINTR) {
      hand_over(p, -n);
      break;
    }
    int handed = p->len > 0;
    if (handed) hand_over(p, 0);
    idle = !handed && timeout != 0;
    if (asked != p->flush_done) {
      pthread_mutex_lock(&p->mu);
      p->flush_done = asked;
      pthread_cond_broadcast(&p->flush_cv);
      pthread_mutex_unlock(&p->mu);
    }
    if (handed) {
      // Records come in bursts (a connect loop makes thousands a second): a short pause before looking
      // again lets the next ones gather into one batch, one wake-up of this thread and of JavaScript
      // instead of one per record. A lone record is handed over at once; one that follows waits at
      // most this long. Nothing wakes while no record comes.
      struct timespec gather = {0, GATHER_NS};
      nanosleep(&gather, NULL);
    }
  }
  return NULL;
}

// On the JavaScript thread: asks the thread to read the ring now and hand over what it read, and waits
// for it, at most WAIT_MS. 1 when it did.
int probe_flush(Probe *p, int wait_ms) {
  // Waiting for JavaScript to take what it handed over (HANDOVER_MAX): it cannot answer now.
  if (atomic_load(&p->pending_bytes) > HANDOVER_MAX) return 0;
  pthread_mutex_lock(&p->mu);
  unsigned want = atomic_fetch_add(&p->flush_asked, 1) + 1;
  uint64_t one = 1;
  if (write(p->wake_fd, &one, sizeof one) < 0) { /* cannot fail on an eventfd below its maximum */ }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += wait_ms / 1000;
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  // Unsigned difference: the counters may wrap.
  while ((int)(want - p->flush_done) > 0 && !p->stopping)
    if (pthread_cond_timedwait(&p->flush_cv, &p->mu, &until) == ETIMEDOUT) break;
  int done = (int)(want - p->flush_done) <= 0;
  pthread_mutex_unlock(&p->mu);
  return done;
}

// Wakes the thread and waits for it to end; its last batch is queued for onRecords.
void probe_stop_thread(Probe *p) {
  p->stopping = 1;
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (p->wake_fd >= 0) {
    uint64_t one = 1;
    if (write(p->wake_fd, &one, sizeof one) < 0) { /* cannot fail on an eventfd below its maximum */ }
  }
  if (p->running) pthread_join(p->thread, NULL);
  p->running = 0;
  // No reader sleeps now: records need not wake anyone (a pinned probe goes on without a daemon).
  set_asleep(p, 0);
}

