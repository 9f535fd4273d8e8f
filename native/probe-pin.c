// The pinned probe (issue 21): the programs' links and every map of the probe kept in a bpffs directory,
// so the kernel goes on capturing while no daemon runs (a restart, an upgrade, a crash) and the next
// daemon reads the ring buffer from where the last one stopped. What is pinned, under DIR:
//   link_<program>   each attached program's link: while pinned, the program stays attached
//   <map>            every map (the ring buffer, the tracked sockets, the filters, the counters)
//   meta             probe.h's struct probe_meta; `complete` is written last
// A daemon takes over a complete pinned probe of its own object (same hash); any other is drained and
// replaced (probe.c). Here: the directory, the hash, the notes, the links, and their removal.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#include "probe.h"
#include "probe-internal.h"

#define BPF_FS_MAGIC 0xcafe4a11
#define BPFFS_DEFAULT "/sys/fs/bpf"

uint64_t probe_object_hash(const char *data, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t probe_now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int is_bpffs(const char *path) {
  struct statfs fs;
  return statfs(path, &fs) == 0 && (unsigned long)fs.f_type == BPF_FS_MAGIC;
}

// DIR's parent must be on a bpffs; /sys/fs/bpf is mounted when it is the parent and nothing is mounted
// there (a container, a minimal host). DIR itself is made (mode 0700) when missing.
int probe_ensure_dir(const char *dir) {
  char parent[PATH_MAX];
  if (snprintf(parent, sizeof parent, "%s", dir) >= (int)sizeof parent) return -ENAMETOOLONG;
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) return -EINVAL;
  *slash = 0;
  if (!is_bpffs(parent)) {
    if (strcmp(parent, BPFFS_DEFAULT) != 0) return -ENOTSUP;
    if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700") != 0) return -errno;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -errno;
  return 0;
}

static int path_in(char *out, size_t size, const char *dir, const char *prefix, const char *name) {
  return snprintf(out, size, "%s/%s%s", dir, prefix, name) >= (int)size ? -ENAMETOOLONG : 0;
}

// DIR's notes; -ENOENT when there are none (nothing pinned, or a pin that never completed).
int probe_read_meta(const char *dir, struct probe_meta *m) {
  char path[PATH_MAX];
  if (path_in(path, sizeof path, dir, "", "meta") < 0) return -ENAMETOOLONG;
  int fd = bpf_obj_get(path);
  if (fd < 0) return -errno;
  __u32 zero = 0;
  int err = bpf_map_lookup_elem(fd, &zero, m) == 0 ? 0 : -errno;
  close(fd);
  if (err == 0 && !m->complete) return -ENOENT;
  return err;
}

// Each map of the object is pinned at DIR/<name> (libbpf reuses one already there, else pins it at load).
int probe_set_pin_paths(struct bpf_object *obj, const char *dir) {
  struct bpf_map *map;
  char path[PATH_MAX];
  bpf_object__for_each_map(map, obj) {
    const char *name = bpf_map__name(map);
    int err = strchr(name, '.') ? bpf_map__set_pin_path(map, NULL)  // .rodata and such: the programs' own
                                : path_in(path, sizeof path, dir, "", name) ?: bpf_map__set_pin_path(map, path);
    if (err < 0) return err;
  }
  return 0;
}

int probe_pin_link(struct bpf_link *link, const char *dir, const char *program) {
  char path[PATH_MAX];
  int err = path_in(path, sizeof path, dir, "link_", program);
  return err < 0 ? err : bpf_link__pin(link, path);
}

// The pinned link of PROGRAM under DIR, or NULL (errno set).
struct bpf_link *probe_open_link(const char *dir, const char *program) {
  char path[PATH_MAX];
  if (path_in(path, sizeof path, dir, "link_", program) < 0) {
    errno = ENAMETOOLONG;
    return NULL;
  }
  return bpf_link__open(path);
}

int probe_write_meta(int fd, const struct probe_meta *m) {
  __u32 zero = 0;
  return bpf_map_update_elem(fd, &zero, m, BPF_ANY) == 0 ? 0 : -errno;
}

// Bytes written into a ring buffer map and not yet consumed (its two position pages, mapped read-only).
long probe_ring_waiting(int ring_fd) {
  long page = sysconf(_SC_PAGESIZE);
  void *pos = mmap(NULL, (size_t)page * 2, PROT_READ, MAP_SHARED, ring_fd, 0);
  if (pos == MAP_FAILED) return -errno;
  unsigned long consumer = __atomic_load_n((unsigned long *)pos, __ATOMIC_ACQUIRE);
  unsigned long producer = __atomic_load_n((unsigned long *)((char *)pos + page), __ATOMIC_ACQUIRE);
  munmap(pos, (size_t)page * 2);
  return (long)(producer - consumer);
}

// The pinned object NAME under DIR, or -errno.
int probe_pinned_fd(const char *dir, const char *name) {
  char path[PATH_MAX];
  int err = path_in(path, sizeof path, dir, "", name);
  if (err < 0) return err;
  int fd = bpf_obj_get(path);
  return fd < 0 ? -errno : fd;
}

// Unpins everything under DIR and removes it: links first (their programs detach, unless a running
// daemon still holds them), then the maps. Returns how many pins were removed, or -errno.
int probe_remove_pins(const char *dir) {
  int removed = 0;
  for (int links = 1; links >= 0; links--) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? removed : -errno;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      if ((strncmp(e->d_name, "link_", 5) == 0) != links) continue;
      if (path_in(path, sizeof path, dir, "", e->d_name) < 0) continue;
      if (unlink(path) == 0) removed++;
    }
    closedir(d);
  }
  if (rmdir(dir) != 0 && errno != ENOENT) return -errno;
  return removed;
}

// A process's start time (/proc/PID/stat field 22, clock ticks since boot); 0 when it is gone.
uint64_t probe_process_start(uint32_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  // After the name (which may hold spaces and parentheses): state is field 3, start time field 22.
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  unsigned long long start = 0;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
    if (++field == 22) {
      start = strtoull(tok, NULL, 10);
      break;
    }
  return start;
}

// Whether the daemon that the notes name as reading the probe is alive (same pid, same start time).
int probe_reader_alive(const struct probe_meta *m) {
  return m->reader_pid != 0 && m->reader_pid != (uint32_t)getpid() && m->reader_start != 0 &&
         probe_process_start(m->reader_pid) == m->reader_start;
}

// The names of DIR's pinned links ("link_" taken off), comma-separated into OUT.
void probe_link_names(const char *dir, char *out, size_t size) {
  out[0] = 0;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "link_", 5) != 0) continue;
    size_t have = strlen(out);
    snprintf(out + have, size - have, "%s%s", have ? "," : "", e->d_name + 5);
  }
  closedir(d);
}
