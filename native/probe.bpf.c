// SPDX-License-Identifier: GPL-2.0 OR MIT
// The eBPF source's kernel half: the tracepoint inet_sock_set_state (stable since Linux 4.16; no
// kprobes), filtered in the kernel by remote port and by task name, sending each transition the source
// needs through one BPF ring buffer (one queue for all CPUs, in the order events were reserved). A
// connection is chosen by its remote port, or, on any port, when the task or its parent is an SSH client:
//   SYN_SENT     runs in the context of the task calling connect(): the only moment the process is
//                known for sure, so tgid, tid, uid, name, parent and the socket's inode and netns are
//                taken there, and the socket is remembered in `tracked`. Beyond its user's rate the
//                record waits in `quiet` instead (floods, counted in the kernel: see probe.h);
//   ESTABLISHED  (softirq, any task) the local address and port, for tracked sockets;
//   CLOSE        the old state and tcp_sock's byte counters, for tracked sockets and any socket to an
//                SSH port (one the source took from /proc at start). Nothing about "the current task"
//                is read here: a close can run in another task's softirq.
// Each program comes twice: BTF-typed (tp_btf: attached by the kernel's BTF, with no tracefs, as in a
// container), and as a tracefs tracepoint for kernels without tp_btf. The loader loads one set (probe.c);
// both call the same code, which reads what it needs from the socket itself.
// Field access is CO-RE (BTF relocations): the types below declare only the fields read, by name, and
// libbpf finds their offsets in the running kernel's BTF, so one object runs on every kernel with BTF.
// GPL-compatible licence: bpf_get_current_task_btf and friends require it.

// The kernel's UAPI (map types, helper ids), not its internal types: those come by CO-RE below.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "probe.h"

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct trace_event_raw_inet_sock_set_state {
  const void *skaddr;
  int oldstate;
  int newstate;
};
struct in6_addr {
  union {
    __u8 u6_addr8[16];
  } in6_u;
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
typedef struct {
  __s64 counter;
} atomic64_t;
// The addresses and ports are in anonymous unions in the kernel's type; CO-RE finds them by name.
struct sock_common {
  atomic64_t skc_cookie;  // 0 until something asks for it (bpf_get_socket_cookie, sock_diag, SO_COOKIE)
  __u32 skc_daddr;
  __u16 skc_dport;  // network order
  unsigned short skc_family;
  possible_net_t skc_net;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
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
  __u16 sk_protocol;  // a bitfield before Linux 5.6: read with BPF_CORE_READ_BITFIELD_PROBED
};
// The tracepoint's own source: inet_sock's port and address (skc_num is 0 by the time of a CLOSE: the
// port is released before the state changes).
struct inet_sock {
  __u16 inet_sport;  // network order
  __u32 inet_saddr;
};
struct tcp_sock {
  __u64 bytes_received;
  __u64 bytes_acked;
  // SSH by protocol: whether a socket has had its first payload, each way (probe-protocol.bpf.h).
  __u32 write_seq;
  __u32 snd_nxt;
  __u32 data_segs_out;
};
struct kuid_like {
  unsigned int val;
};
struct cred {
  struct kuid_like euid;
};
struct mm_struct {
  unsigned long arg_start;
  unsigned long arg_end;
};
struct linux_binprm {
  const char *filename;
};
struct task_struct {
  int tgid;
  struct task_struct *real_parent;
  char comm[16];
  struct mm_struct *mm;
  __u64 start_boottime;
  const struct cred *cred;
  // CONFIG_AUDIT's: read only where the kernel has them (bpf_core_field_exists).
  struct kuid_like loginuid;
  unsigned int sessionid;
};
#pragma clang attribute pop

#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// Filled by the loader from --ports and --clients. Their sizes are fixed (the configuration's bounds):
// a pinned probe's maps are taken over by the next daemon only when every map is as it expects.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, PROBE_PORTS_MAX);
  __type(key, __u16);
  __type(value, __u8);
} ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, PROBE_CLIENTS_MAX);
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

#define EVENTS_BYTES (1 << 22)
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, EVENTS_BYTES);
} events SEC(".maps");

// Set (1) by the daemon's reader thread while it sleeps with no time limit, after a look that found
// nothing (probe-ring.c): then every record wakes it.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} reader SEC(".maps");

// Whether a record wakes the daemon's reader thread. A connect does (URGENT): the daemon reads its
// process from /proc while it runs; so does the close of a connection that received nothing (below).
// Any other record waits for the next one that wakes it, or for the reader's own look a moment later
// (probe-ring.c, HOLD_MS): the records of a connection reach the daemon in about one wake-up, not one
// each. It wakes the reader when that sleeps with no look to come, and once the ring holds a quarter
// of its room.
static __always_inline __u64 wake(int urgent) {
  __u32 zero = 0;
  __u32 *asleep = bpf_map_lookup_elem(&reader, &zero);
  if (urgent || (asleep && *asleep) || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > EVENTS_BYTES / 4)
    return BPF_RB_FORCE_WAKEUP;
  return BPF_RB_NO_WAKEUP;
}

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

// The daemons' own notes on a pinned probe (probe.h): the programs never read or write it.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct probe_meta);
} meta SEC(".maps");

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

// The socket's addresses and ports as the tracepoint's own fields give them (ports in host order).
static __always_inline void addresses(struct probe_record *r, struct sock *sk) {
  struct inet_sock *inet = (struct inet_sock *)sk;
  r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
  r->sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
  r->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (r->family == 10) {
    BPF_CORE_READ_INTO(&r->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&r->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  } else {
    BPF_CORE_READ_INTO((__u32 *)r->saddr, inet, inet_saddr);
    BPF_CORE_READ_INTO((__u32 *)r->daddr, sk, __sk_common.skc_daddr);
  }
}

static __always_inline __u32 netns_of(struct sock *sk) {
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

// The same from a BTF-typed socket (tp_btf): plain loads of struct sock's fields, which the verifier
// guards (a fault reads 0), instead of one bpf_probe_read_kernel call each.
static __always_inline void addresses_btf(struct probe_record *r, struct sock *sk) {
  struct inet_sock *inet = (struct inet_sock *)sk;
  r->family = sk->__sk_common.skc_family;
  // inet_sock's own fields lie beyond struct sock, where the verifier lets no plain load reach.
  r->sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
  r->dport = bpf_ntohs(sk->__sk_common.skc_dport);
  if (r->family == 10) {
    __builtin_memcpy(r->saddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
    __builtin_memcpy(r->daddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
  } else {
    BPF_CORE_READ_INTO((__u32 *)r->saddr, inet, inet_saddr);
    *(__u32 *)r->daddr = sk->__sk_common.skc_daddr;
  }
}

#define ADDRESSES(btf, r, sk) ((btf) ? addresses_btf(r, sk) : addresses(r, sk))
#define NETNS_OF(btf, sk) ((btf) ? (sk)->__sk_common.skc_net.net->ns.inum : netns_of(sk))

// What a connect record says of its socket: its addresses, network namespace and inode.
static __always_inline void socket_facts(struct probe_record *r, struct sock *sk, const int btf) {
  ADDRESSES(btf, r, sk);
  r->netns = NETNS_OF(btf, sk);
  r->inode = btf ? sk->sk_socket->file->f_inode->i_ino : BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

static __always_inline int send(const struct probe_record *r) {
  if (bpf_ringbuf_output(&events, (void *)r, sizeof(*r), wake(r->kind == PROBE_CONNECT)) == 0) return 1;
  count_lost();
  return 0;
}

// A held-back connect that ended before it was established, counted; 0 when there is no room (the
// caller then sends it as records).
#include "probe-flood.bpf.h"
// SSH by its protocol: candidates' socket storage and the cgroup_skb programs.
#include "probe-protocol.bpf.h"

// BTF: called from the tp_btf program, whose socket is BTF-typed (socket storage needs that: the
// protocol's watch is only there). A constant, so the tracefs program has none of that code.
static __always_inline int transition(struct sock *s, int oldstate, int newstate, const int btf) {
  if ((btf ? BPF_CORE_READ_BITFIELD(s, sk_protocol) : BPF_CORE_READ_BITFIELD_PROBED(s, sk_protocol)) != IPPROTO_TCP)
    return 0;
  __u64 sk = (__u64)s;
  __u16 dport = bpf_ntohs(btf ? s->__sk_common.skc_dport : BPF_CORE_READ(s, __sk_common.skc_dport));

  if (newstate == TCP_SYN_SENT) {
    int translated;
    __u64 id = current_ids(&translated);
    if (!id) return 0;
    struct probe_record r = {};
    bpf_get_current_comm(r.comm, sizeof(r.comm));
    struct task_struct *parent;
    if (btf) {
      parent = bpf_get_current_task_btf()->real_parent;
      __builtin_memcpy(r.pcomm, parent->comm, sizeof(r.pcomm));
    } else {
      struct task_struct *task = (struct task_struct *)bpf_get_current_task();
      parent = BPF_CORE_READ(task, real_parent);
      BPF_CORE_READ_STR_INTO(&r.pcomm, parent, comm);
    }
    // An SSH client's connection on any port, and its ProxyCommand's: ssh runs that as its own child
    // ("exec nc %h %p", "socat - TCP:relay:443"), and what the child connects to carries the session.
    // Any other is a candidate when the protocol is watched: SSH if its first payload says so.
    __u16 via = bpf_map_lookup_elem(&ports, &dport)      ? PROBE_VIA_PORT
                : bpf_map_lookup_elem(&clients, r.comm)  ? PROBE_VIA_CLIENT
                : bpf_map_lookup_elem(&clients, r.pcomm) ? PROBE_VIA_PARENT
                                                         : 0;
    int watched = btf && protocol_on();
    if (!via && !watched) return 0;
    r.kind = PROBE_CONNECT;
    r.oldstate = via ? via : PROBE_VIA_PROTOCOL;
    r.sk = sk;
    r.time_ns = bpf_ktime_get_ns();
    r.pid = id >> 32;
    r.tid = (__u32)id;
    r.uid = (__u32)bpf_get_current_uid_gid();
    r.ppid = translated ? 0 : btf ? parent->tgid : BPF_CORE_READ(parent, tgid);
    if (!via) {
      // A candidate: only what this task can tell is kept; the socket's addresses, namespace and inode
      // are read if it turns out to be SSH (probe-protocol.bpf.h, look()).
      watch_payloads(s, &r, 0);
      // A new socket at this address: whatever `tracked` says of it is of a socket gone unseen. Looked
      // up first: there is seldom anything, and a lookup takes no lock.
      if (bpf_map_lookup_elem(&tracked, &sk)) bpf_map_delete_elem(&tracked, &sk);
      return 0;
    }
    socket_facts(&r, s, btf);
    if (watched) watch_payloads(s, &r, 1);
    // A connect still held back at this address is of a socket whose end the program did not see (a
    // run the kernel skipped: a program is not run again on a CPU where it is running). Sent now: the
    // daemon closes that connection when this one's connect names the same address. Kept, it would be
    // counted as an attempt by this socket's close, which would then not be sent.
    struct probe_record *stale = bpf_map_lookup_elem(&quiet, &sk);
    if (stale) {
      send(stale);
      bpf_map_delete_elem(&quiet, &sk);
    }
    // Beyond the user's rate the record waits: it is sent if the connection is established. What
    // `tracked` says of this address is of a socket gone unseen too: left, it would pass this socket's
    // establishment by the held-back connect.
    if (!take_token(r.uid, r.time_ns)) {
      bpf_map_delete_elem(&tracked, &sk);
      if (bpf_map_update_elem(&quiet, &sk, &r, BPF_NOEXIST) == 0) return 0;
    }
    __u8 one = 1;
    bpf_map_update_elem(&tracked, &sk, &one, BPF_ANY);
    send(&r);
    return 0;
  }

  if (newstate == TCP_ESTABLISHED) {
    if (!bpf_map_lookup_elem(&tracked, &sk)) {
      struct probe_record *q = bpf_map_lookup_elem(&quiet, &sk);
      if (!q) {
        // A candidate: its establishment is kept until its first payload says what it speaks.
        if (btf) watch_established(s);
        return 0;
      }
      // A held-back connect that is a connection after all: its connect first, with its own time.
      send(q);
      bpf_map_delete_elem(&quiet, &sk);
      __u8 one = 1;
      bpf_map_update_elem(&tracked, &sk, &one, BPF_ANY);
    }
    struct probe_record *r = reserve(PROBE_ESTABLISHED, sk);
    if (!r) return 0;
    ADDRESSES(btf, r, s);
    bpf_ringbuf_submit(r, wake(0));
    return 0;
  }

  if (newstate == TCP_CLOSE) {
    if (btf) unwatch(s);
    struct probe_record *q = bpf_map_lookup_elem(&quiet, &sk);
    if (q) {
      // Ended before it was established: counted, or (no room to count it) sent as a connect and a close.
      int counted = count_attempt(q, bpf_ktime_get_ns());
      if (!counted) send(q);
      bpf_map_delete_elem(&quiet, &sk);
      if (counted) return 0;
    } else if (!bpf_map_lookup_elem(&tracked, &sk) && !bpf_map_lookup_elem(&ports, &dport)) {
      return 0;
    }
    bpf_map_delete_elem(&tracked, &sk);
    struct probe_record *r = reserve(PROBE_CLOSE, sk);
    if (!r) return 0;
    ADDRESSES(btf, r, s);
    r->oldstate = oldstate;
    struct tcp_sock *tp = (struct tcp_sock *)sk;
    r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
    r->bytes_received = BPF_CORE_READ(tp, bytes_received);
    r->netns = NETNS_OF(btf, s);
    // A connection that received nothing may have its opening still waiting for a server's banner that
    // will not come: its close writes it, now. One that received bytes had it written by them.
    bpf_ringbuf_submit(r, wake(r->bytes_received == 0));
  }
  return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state_btf, struct sock *sk, int oldstate, int newstate) {
  return transition(sk, oldstate, newstate, 1);
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx) {
  return transition((struct sock *)BPF_CORE_READ(ctx, skaddr), BPF_CORE_READ(ctx, oldstate),
                    BPF_CORE_READ(ctx, newstate), 0);
}

#include "probe-sessions.bpf.h"
#include "probe-exec.bpf.h"
