// SPDX-License-Identifier: GPL-2.0 OR MIT
// The eBPF source's kernel half: the tracepoint sock:inet_sock_set_state (stable since Linux 4.16; no
// kprobes), filtered in the kernel by remote port and by task name, sending each transition the source
// needs through one BPF ring buffer (one queue for all CPUs, in the order events were reserved). A
// connection is chosen by its remote port, or, on any port, when the task or its parent is an SSH client:
//   SYN_SENT     runs in the context of the task calling connect(): the only moment the process is
//                known for sure, so tgid, tid, uid, name, parent and the socket's inode and netns are
//                taken there, and the socket is remembered in `tracked`;
//   ESTABLISHED  (softirq, any task) the local address and port, for tracked sockets;
//   CLOSE        the old state and tcp_sock's byte counters, for tracked sockets and any socket to an
//                SSH port (one the source took from /proc at start). Nothing about "the current task"
//                is read here: a close can run in another task's softirq.
// Field access is CO-RE (BTF relocations): the types below declare only the fields read, by name, and
// libbpf finds their offsets in the running kernel's BTF, so one object runs on every kernel with BTF.
// GPL-compatible licence: bpf_get_current_task_btf and friends require it.

// The kernel's UAPI (map types, helper ids), not its internal types: those come by CO-RE below.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "probe.h"

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct trace_event_raw_inet_sock_set_state {
  const void *skaddr;
  int oldstate;
  int newstate;
  __u16 sport;
  __u16 dport;
  __u16 family;
  __u16 protocol;
  __u8 saddr[4];
  __u8 daddr[4];
  __u8 saddr_v6[16];
  __u8 daddr_v6[16];
};
struct ns_common {
  unsigned int inum;
};
struct net {
  struct ns_common ns;
};
typedef struct {
  struct net *net;
} possible_net_t;
struct sock_common {
  possible_net_t skc_net;
};
struct inode {
  unsigned long i_ino;
};
struct file {
  struct inode *f_inode;
};
struct socket {
  struct file *file;
};
struct sock {
  struct sock_common __sk_common;
  struct socket *sk_socket;
};
struct tcp_sock {
  __u64 bytes_received;
  __u64 bytes_acked;
};
struct task_struct {
  int tgid;
  struct task_struct *real_parent;
  char comm[16];
};
#pragma clang attribute pop

#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// Filled by the loader from --ports and --clients.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u16);
  __type(value, __u8);
} ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, char[PROBE_COMM_LEN]);
  __type(value, __u8);
} clients SEC(".maps");

// Sockets chosen at SYN_SENT, until their CLOSE. LRU: a socket whose close never came (the probe was
// detached in between) cannot fill it; the source checks such sockets against /proc anyway.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u8);
} tracked SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 22);
} events SEC(".maps");

// An SSH client's connect() to a unix socket, between its entry (the address is read) and its exit
// (only a connect that succeeded is sent): thread id → the path.
struct unix_path {
  char path[PROBE_PATH_LEN];
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, struct unix_path);
} unix_connecting SEC(".maps");

// The daemon's pid namespace (device and inode of /proc/self/ns/pid), set by the loader only when that
// is not the initial one (a container): pids are then given as the daemon sees them in /proc, and a
// task of another namespace is not ours to report. Zero: pids as the kernel numbers them, every task.
struct pidns_of_daemon {
  __u64 dev;
  __u64 ino;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct pidns_of_daemon);
} pidns SEC(".maps");

// The current task's tgid << 32 | tid as the daemon sees them; 0 when it cannot see the task.
// `translated` says whether the pids are the namespace's (its parent's pid is then not known here).
static __always_inline __u64 current_ids(int *translated) {
  __u32 zero = 0;
  struct pidns_of_daemon *ns = bpf_map_lookup_elem(&pidns, &zero);
  *translated = 0;
  if (!ns || ns->ino == 0) return bpf_get_current_pid_tgid();
  struct bpf_pidns_info info = {};
  if (bpf_get_ns_current_pid_tgid(ns->dev, ns->ino, &info, sizeof(info)) != 0) return 0;
  *translated = 1;
  return ((__u64)info.tgid << 32) | info.pid;
}

// Records that did not fit in the ring buffer, counted by the program itself.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(void) {
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&lost, &zero);
  if (n) __sync_fetch_and_add(n, 1);
}

static __always_inline struct probe_record *reserve(__u32 kind, __u64 sk) {
  struct probe_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
  if (!r) {
    count_lost();
    return 0;
  }
  __builtin_memset(r, 0, sizeof(*r));
  r->kind = kind;
  r->sk = sk;
  r->time_ns = bpf_ktime_get_ns();
  return r;
}

static __always_inline struct probe_client_record *reserve_client(__u32 kind) {
  struct probe_client_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
  if (!r) {
    count_lost();
    return 0;
  }
  __builtin_memset(r, 0, sizeof(*r));
  r->base.kind = kind;
  r->base.time_ns = bpf_ktime_get_ns();
  return r;
}

static __always_inline void addresses(struct probe_record *r, struct trace_event_raw_inet_sock_set_state *ctx) {
  r->family = BPF_CORE_READ(ctx, family);
  r->sport = BPF_CORE_READ(ctx, sport);
  r->dport = BPF_CORE_READ(ctx, dport);
  if (r->family == 10) {
    BPF_CORE_READ_INTO(&r->saddr, ctx, saddr_v6);
    BPF_CORE_READ_INTO(&r->daddr, ctx, daddr_v6);
  } else {
    BPF_CORE_READ_INTO((__u32 *)r->saddr, ctx, saddr);
    BPF_CORE_READ_INTO((__u32 *)r->daddr, ctx, daddr);
  }
}

static __always_inline __u32 netns_of(struct sock *sk) {
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx) {
  if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP) return 0;
  int newstate = BPF_CORE_READ(ctx, newstate);
  __u64 sk = (__u64)BPF_CORE_READ(ctx, skaddr);
  __u16 dport = BPF_CORE_READ(ctx, dport);

  if (newstate == TCP_SYN_SENT) {
    int translated;
    __u64 id = current_ids(&translated);
    if (!id) return 0;
    char comm[PROBE_COMM_LEN] = {};
    bpf_get_current_comm(comm, sizeof(comm));
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    char pcomm[PROBE_COMM_LEN] = {};
    BPF_CORE_READ_STR_INTO(&pcomm, parent, comm);
    // An SSH client's connection on any port, and its ProxyCommand's: ssh runs that as its own child
    // ("exec nc %h %p", "socat - TCP:relay:443"), and what the child connects to carries the session.
    if (!bpf_map_lookup_elem(&ports, &dport) && !bpf_map_lookup_elem(&clients, comm) &&
        !bpf_map_lookup_elem(&clients, pcomm))
      return 0;
    __u8 one = 1;
    bpf_map_update_elem(&tracked, &sk, &one, BPF_ANY);
    struct probe_record *r = reserve(PROBE_CONNECT, sk);
    if (!r) return 0;
    addresses(r, ctx);
    r->pid = id >> 32;
    r->tid = (__u32)id;
    r->uid = (__u32)bpf_get_current_uid_gid();
    __builtin_memcpy(r->comm, comm, sizeof(comm));
    __builtin_memcpy(r->pcomm, pcomm, sizeof(pcomm));
    r->ppid = translated ? 0 : BPF_CORE_READ(parent, tgid);
    struct sock *s = (struct sock *)sk;
    r->netns = netns_of(s);
    r->inode = BPF_CORE_READ(s, sk_socket, file, f_inode, i_ino);
    bpf_ringbuf_submit(r, 0);
    return 0;
  }

  if (newstate == TCP_ESTABLISHED) {
    if (!bpf_map_lookup_elem(&tracked, &sk)) return 0;
    struct probe_record *r = reserve(PROBE_ESTABLISHED, sk);
    if (!r) return 0;
    addresses(r, ctx);
    bpf_ringbuf_submit(r, 0);
    return 0;
  }

  if (newstate == TCP_CLOSE) {
    if (!bpf_map_lookup_elem(&tracked, &sk) && !bpf_map_lookup_elem(&ports, &dport)) return 0;
    bpf_map_delete_elem(&tracked, &sk);
    struct probe_record *r = reserve(PROBE_CLOSE, sk);
    if (!r) return 0;
    addresses(r, ctx);
    r->oldstate = BPF_CORE_READ(ctx, oldstate);
    struct tcp_sock *tp = (struct tcp_sock *)sk;
    r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
    r->bytes_received = BPF_CORE_READ(tp, bytes_received);
    r->netns = netns_of((struct sock *)sk);
    bpf_ringbuf_submit(r, 0);
  }
  return 0;
}

// The syscall tracepoints' context, as their format files give it (a stable ABI, not CO-RE).
struct sys_enter_connect_ctx {
  __u64 common;
  __s64 syscall_nr;
  __u64 fd;
  const void *uservaddr;
  __u64 addrlen;
};
struct sys_exit_connect_ctx {
  __u64 common;
  __s64 syscall_nr;
  __s64 ret;
};

#define AF_UNIX 1

static __always_inline int is_client(char comm[PROBE_COMM_LEN]) {
  bpf_get_current_comm(comm, PROBE_COMM_LEN);
  return bpf_map_lookup_elem(&clients, comm) != 0;
}

// An SSH client connecting to a unix socket: a control master's (ControlPath), ssh-agent's. The path is
// kept until the call returns; user space decides which it was.
SEC("tracepoint/syscalls/sys_enter_connect")
int on_connect_enter(struct sys_enter_connect_ctx *ctx) {
  char comm[PROBE_COMM_LEN] = {};
  if (!is_client(comm)) return 0;
  __u16 family = 0;
  if (bpf_probe_read_user(&family, sizeof(family), ctx->uservaddr) < 0 || family != AF_UNIX) return 0;
  struct unix_path p = {};
  bpf_probe_read_user(&p.path, sizeof(p.path) - 1, (const char *)ctx->uservaddr + 2);
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  bpf_map_update_elem(&unix_connecting, &tid, &p, BPF_ANY);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_connect_exit(struct sys_exit_connect_ctx *ctx) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct unix_path *p = bpf_map_lookup_elem(&unix_connecting, &tid);
  if (!p) return 0;
  int translated;
  __u64 id = current_ids(&translated);
  if (ctx->ret == 0 && id) {
    struct probe_client_record *r = reserve_client(PROBE_UNIX_CONNECT);
    if (r) {
      r->base.pid = id >> 32;
      r->base.tid = (__u32)id;
      r->base.uid = (__u32)bpf_get_current_uid_gid();
      bpf_get_current_comm(r->base.comm, sizeof(r->base.comm));
      struct task_struct *task = (struct task_struct *)bpf_get_current_task();
      struct task_struct *parent = BPF_CORE_READ(task, real_parent);
      r->base.ppid = translated ? 0 : BPF_CORE_READ(parent, tgid);
      BPF_CORE_READ_STR_INTO(&r->base.pcomm, parent, comm);
      __builtin_memcpy(r->path, p->path, sizeof(r->path));
      bpf_ringbuf_submit(r, 0);
    }
  }
  bpf_map_delete_elem(&unix_connecting, &tid);
  return 0;
}

// An SSH client's process ends (its main thread exits): the end of a session it carried over a master.
SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx) {
  __u64 kernel = bpf_get_current_pid_tgid();
  if ((__u32)kernel != (__u32)(kernel >> 32)) return 0;
  int translated;
  __u64 id = current_ids(&translated);
  if (!id) return 0;
  char comm[PROBE_COMM_LEN] = {};
  if (!is_client(comm)) return 0;
  struct probe_client_record *r = reserve_client(PROBE_EXIT);
  if (!r) return 0;
  r->base.pid = id >> 32;
  r->base.tid = (__u32)id;
  __builtin_memcpy(r->base.comm, comm, sizeof(comm));
  bpf_ringbuf_submit(r, 0);
  return 0;
}
