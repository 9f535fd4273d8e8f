// The eBPF source's maps: the filters sized and filled from the configuration, the flood policy, the
// daemon's pid namespace.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/types.h>
#include <pthread.h>

#include "probe.h"
#include "probe-internal.h"

// The filters become the configuration's: its entries are added, then the others taken out, so a
// probe taken over from the last daemon never runs with an empty filter in between.
int probe_fill_maps(napi_env env, Probe *p, napi_value ports, napi_value clients) {
  int ports_fd = bpf_object__find_map_fd_by_name(p->obj, "ports");
  int clients_fd = bpf_object__find_map_fd_by_name(p->obj, "clients");
  if (ports_fd < 0 || clients_fd < 0) return -ENOENT;
  uint32_t np, nc;
  napi_get_array_length(env, ports, &np);
  napi_get_array_length(env, clients, &nc);
  if (np > PROBE_PORTS_MAX || nc > PROBE_CLIENTS_MAX) return -E2BIG;
  __u16 port_keys[PROBE_PORTS_MAX];
  char client_keys[PROBE_CLIENTS_MAX][PROBE_COMM_LEN];
  memset(client_keys, 0, sizeof client_keys);
  for (uint32_t i = 0; i < np; i++) {
    napi_value v;
    uint32_t port;
    napi_get_element(env, ports, i, &v);
    if (napi_get_value_uint32(env, v, &port) != napi_ok || port == 0 || port > 65535) return -EINVAL;
    port_keys[i] = (__u16)port;
  }
  for (uint32_t i = 0; i < nc; i++) {
    napi_value v;
    size_t len;
    napi_get_element(env, clients, i, &v);
    if (napi_get_value_string_utf8(env, v, client_keys[i], PROBE_COMM_LEN, &len) != napi_ok) return -EINVAL;
  }
  int err = probe_reset_set(ports_fd, sizeof(__u16), port_keys, np);
  return err < 0 ? err : probe_reset_set(clients_fd, PROBE_COMM_LEN, client_keys, nc);
}

// A hash map of KEY → 1 made to hold exactly the N keys given (at most PROBE_PORTS_MAX entries).
int probe_reset_set(int fd, size_t key_size, const void *keys, size_t n) {
  __u8 one = 1;
  for (size_t i = 0; i < n; i++)
    if (bpf_map_update_elem(fd, (const char *)keys + i * key_size, &one, BPF_ANY) < 0) return -errno;
  // The keys are listed first: deleting while walking would restart the walk.
  static char listed[PROBE_PORTS_MAX * PROBE_COMM_LEN];
  char key[PROBE_COMM_LEN];
  size_t nk = 0;
  if (key_size > PROBE_COMM_LEN) return -EINVAL;
  while (nk < PROBE_PORTS_MAX && bpf_map_get_next_key(fd, nk ? listed + (nk - 1) * key_size : NULL, key) == 0)
    memcpy(listed + nk++ * key_size, key, key_size);
  for (size_t k = 0; k < nk; k++) {
    const char *have = listed + k * key_size;
    int wanted = 0;
    for (size_t i = 0; i < n && !wanted; i++) wanted = memcmp(have, (const char *)keys + i * key_size, key_size) == 0;
    if (!wanted) bpf_map_delete_elem(fd, have);
  }
  return 0;
}

// The per-user rate beyond which failed connects are counted in the kernel (probe.h); 0 turns it off.
// The rate is whole connects a second (at least one when on), as --user-rate's token bucket.
int probe_set_flood(Probe *p, double rate, double burst) {
  int fd = bpf_object__find_map_fd_by_name(p->obj, "flood");
  if (fd < 0) return fd;
  struct probe_flood f = {.rate = rate > 0 && rate < 1 ? 1 : (__u64)rate, .burst = (__u64)burst};
  __u32 zero = 0;
  return bpf_map_update_elem(fd, &zero, &f, BPF_ANY) < 0 ? -errno : 0;
}

// The initial pid namespace's inode (PROC_PID_INIT_INO, include/linux/proc_ns.h): a daemon whose own is
// another runs in a container, and the program gives pids as that namespace numbers them.
#define PID_NS_INIT_INO 0xEFFFFFFCu

int probe_set_pidns(Probe *p) {
  struct stat st;
  if (stat("/proc/self/ns/pid", &st) != 0 || st.st_ino == PID_NS_INIT_INO) return 0;
  struct {
    __u64 dev;
    __u64 ino;
  } ns = {st.st_dev, st.st_ino};
  __u32 zero = 0;
  int fd = bpf_object__find_map_fd_by_name(p->obj, "pidns");
  if (fd < 0) return fd;
  return bpf_map_update_elem(fd, &zero, &ns, BPF_ANY) == 0 ? 0 : -errno;
}


// Every entry of a hash map as rows appended to *buf (grown as needed; *len in bytes): `key_room` bytes
// of key (the key, zero-padded; 0: the key left out), then the value. With `take`, each entry is taken
// out of the map as it is read (lookup-and-delete, so a count the program adds meanwhile is either in
// the row or in the map afterwards). The keys are listed first: deleting while walking would restart
// the walk. Returns the rows read, or -ENOMEM (what was read so far stays in *buf).
long probe_map_rows(int fd, size_t key_size, size_t key_room, size_t value_size, int take, char **buf, size_t *len) {
  if (fd < 0) return 0;
  char *keys = NULL;
  size_t nk = 0, kcap = 0;
  char key[64], last[64];
  if (key_size > sizeof key) return -EINVAL;
  while (bpf_map_get_next_key(fd, nk ? last : NULL, key) == 0) {
    if (nk == kcap) {
      kcap = kcap ? kcap * 2 : 64;
      char *grown = realloc(keys, kcap * key_size);
      if (!grown) break;
      keys = grown;
    }
    memcpy(keys + nk * key_size, key, key_size);
    memcpy(last, key, key_size);
    nk++;
  }
  size_t row = key_room + value_size;
  char *out = realloc(*buf, *len + nk * row + 1);
  if (!out) {
    free(keys);
    return -ENOMEM;
  }
  *buf = out;
  long rows = 0;
  for (size_t i = 0; i < nk; i++) {
    char *at = out + *len;
    const char *k = keys + i * key_size;
    memset(at, 0, key_room);
    memcpy(at, k, key_size < key_room ? key_size : key_room);
    int got = take ? bpf_map_lookup_and_delete_elem(fd, k, at + key_room) : bpf_map_lookup_elem(fd, k, at + key_room);
    if (got == 0) {
      *len += row;
      rows++;
    }
  }
  free(keys);
  return rows;
}
