// SSH by its protocol (issue 24): two programs of probe-protocol.bpf.h, one for what a socket sends and
// one for what it receives, and the switch that makes the connection program give candidates their
// storage. Two kinds of hook: TCP's own tracepoints (the socket hooks, tp_btf: nothing runs for any
// other protocol's packets), or cgroup_skb on the cgroup v2 hierarchy's root (the packet hooks: every
// socket of the host is in it or below it, whatever its network namespace; they see the bytes as
// sent, and run for every IP packet). The socket hooks are the default; a kernel that refuses them
// (older ones lack tcp_sendmsg_locked or a dynptr over a tracepoint's skb) gets the packet hooks. All
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

static const char *const PROTOCOL_PROGRAMS[2][PROTOCOL_PROGRAM_COUNT] = {
    [PROTOCOL_SOCKET] = {"on_send", "on_segment"},
    [PROTOCOL_PACKETS] = {"on_egress", "on_ingress"},
};

// Whether NAME is one of the protocol programs P wants (those of its hooks).
int probe_is_protocol_program(const Probe *p, const char *name) {
  for (size_t i = 0; p->want_protocol && i < PROTOCOL_PROGRAM_COUNT; i++)
    if (strcmp(name, PROTOCOL_PROGRAMS[p->protocol_hooks][i]) == 0) return 1;
  return 0;
}

// The object did not load with the protocol programs (ERR, the verifier's LOG): the socket hooks give
// way to the packet hooks where there is a cgroup v2 root (1: load again), else detection is off (0).
int probe_protocol_fallback(Probe *p, int err, const char *log) {
  if (p->protocol_hooks == PROTOCOL_SOCKET && p->cgroup[0]) {
    if (err < 0) err = -err;
    snprintf(p->protocol_note, sizeof p->protocol_note, "socket hooks refused (%s%s%.200s): packet hooks",
             strerror(err), log && *log ? "; " : "", log ? log : "");
    p->protocol_hooks = PROTOCOL_PACKETS;
    return 1;
  }
  probe_protocol_failed(p, "load (verifier)", err, log);
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

// The programs' links: taken over from DIR (a probe pinned by the last daemon) when both of the wanted
// hooks are pinned there (1), else attached now (0). Links pinned there and not wanted (detection off
// now, or the other hooks) are taken away: their programs stop. -errno with the reason kept.
int probe_attach_protocol(Probe *p, const char *dir) {
  if (dir) {
    for (int hooks = PROTOCOL_SOCKET; hooks <= PROTOCOL_PACKETS; hooks++) {
      int pinned = 1;
      for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++)
        pinned &= !!(p->protocol_links[i] = probe_open_link(dir, PROTOCOL_PROGRAMS[hooks][i]));
      if (pinned && p->want_protocol && hooks == (int)p->protocol_hooks) return 1;
      for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT; i++)
        if (p->protocol_links[i]) bpf_link__unpin(p->protocol_links[i]);
      probe_detach_protocol(p);
    }
  }
  if (!p->want_protocol) return 0;
  int fd = -1;
  if (p->protocol_hooks == PROTOCOL_PACKETS) {
    fd = p->cgroup[0] ? open(p->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd < 0) {
      int err = p->cgroup[0] ? errno : ENOENT;
      probe_protocol_failed(p, "opening the cgroup v2 root", err, p->cgroup[0] ? p->cgroup : "none mounted");
      return -err;
    }
  }
  int err = 0;
  for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT && !err; i++) {
    struct bpf_program *prog = bpf_object__find_program_by_name(p->obj, PROTOCOL_PROGRAMS[p->protocol_hooks][i]);
    p->protocol_links[i] = !prog ? NULL : fd >= 0 ? bpf_program__attach_cgroup(prog, fd) : bpf_program__attach(prog);
    if (!p->protocol_links[i]) err = prog ? -errno : -ENOENT;
  }
  if (fd >= 0) close(fd);
  if (err) {
    probe_detach_protocol(p);
    probe_protocol_failed(p,
                          fd >= 0 ? "attaching cgroup_skb programs to the cgroup v2 root"
                                  : "attaching to tp_btf/tcp_sendmsg_locked and tp_btf/tcp_probe",
                          err, fd >= 0 ? p->cgroup : NULL);
  }
  return err;
}

// Pins the links under DIR beside the others (the next daemon takes them over).
int probe_pin_protocol(Probe *p, const char *dir) {
  int err = 0;
  for (size_t i = 0; i < PROTOCOL_PROGRAM_COUNT && err >= 0; i++)
    if (p->protocol_links[i]) err = probe_pin_link(p->protocol_links[i], dir, PROTOCOL_PROGRAMS[p->protocol_hooks][i]);
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
