// SSH by its protocol (issue 24): the two cgroup_skb programs of probe-protocol.bpf.h, attached to the
// cgroup v2 hierarchy's root (every socket of the host is in it or below it, whatever its network
// namespace), and the switch that makes the connection program give candidates their storage. They are
// optional: without them the filters choose as before, and info() says why (protocolError).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"
#include "probe-internal.h"

const char *const PROTOCOL_PROGRAMS[PROTOCOL_PROGRAM_COUNT] = {"on_egress", "on_ingress"};

int probe_is_protocol_program(const char *name) {
  for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++)
    if (strcmp(name, PROTOCOL_PROGRAMS[i]) == 0) return 1;
  return 0;
}

// Detection is off from now on, and the reason is kept for info().
void probe_protocol_failed(Probe *p, const char *step, int err, const char *log) {
  if (err < 0) err = -err;
  snprintf(p->protocol_error, sizeof p->protocol_error, "%s: %s%s%s", step, strerror(err), log && *log ? "; " : "",
           log ? log : "");
  p->want_protocol = 0;
}

void probe_detach_protocol(Probe *p) {
  for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++) {
    if (p->protocol_links[i]) bpf_link__destroy(p->protocol_links[i]);
    p->protocol_links[i] = NULL;
  }
}

// The programs' links: taken over from DIR (a probe pinned by the last daemon) when both are pinned
// there (1), else attached now to the cgroup (0). Without a cgroup wanted, links pinned there are taken
// away (their programs stop). -errno with the reason kept.
int probe_attach_protocol(Probe *p, const char *dir) {
  int pinned = 0;
  if (dir) {
    pinned = 1;
    for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++)
      pinned &= !!(p->protocol_links[i] = probe_open_link(dir, PROTOCOL_PROGRAMS[i]));
    if (pinned && p->want_protocol) return 1;
    for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++)
      if (p->protocol_links[i]) bpf_link__unpin(p->protocol_links[i]);
    probe_detach_protocol(p);
  }
  if (!p->want_protocol) return 0;
  int fd = open(p->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    probe_protocol_failed(p, "opening the cgroup v2 root", err, p->cgroup);
    return -err;
  }
  int err = 0;
  for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT && !err; i++) {
    struct bpf_program *prog = bpf_object__find_program_by_name(p->obj, PROTOCOL_PROGRAMS[i]);
    p->protocol_links[i] = prog ? bpf_program__attach_cgroup(prog, fd) : NULL;
    if (!p->protocol_links[i]) err = prog ? -errno : -ENOENT;
  }
  close(fd);
  if (err) {
    probe_detach_protocol(p);
    probe_protocol_failed(p, "attaching cgroup_skb programs to the cgroup v2 root", err, p->cgroup);
  }
  return err;
}

// Pins the links under DIR beside the others (the next daemon takes them over).
int probe_pin_protocol(Probe *p, const char *dir) {
  int err = 0;
  for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT && err >= 0; i++)
    if (p->protocol_links[i]) err = probe_pin_link(p->protocol_links[i], dir, PROTOCOL_PROGRAMS[i]);
  return err;
}

// The connection program's switch: candidates get storage only while both programs are attached.
int probe_set_protocol(Probe *p) {
  int fd = bpf_object__find_map_fd_by_name(p->obj, "settings");
  if (fd < 0) return fd;
  struct probe_settings s = {.protocol = p->protocol_links[0] && p->protocol_links[1]};
  __u32 zero = 0;
  return bpf_map_update_elem(fd, &zero, &s, BPF_ANY) < 0 ? -errno : 0;
}
