// Part of probe.bpf.c (included there, at its end): the programs that follow SSH clients' sessions
// over a control master: a client's connect() to a unix socket (the path it gave), and its exit. Each
// comes BTF-typed (the raw syscall tracepoints, filtered on connect's number, and sched_process_exit)
// and as tracefs tracepoints, loaded as probe.bpf.c's programs are; without them connections are still
// seen.
#ifndef SSH_OUTBOUND_PROBE_SESSIONS_BPF_H
#define SSH_OUTBOUND_PROBE_SESSIONS_BPF_H

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
static __always_inline int connect_enter(const void *uservaddr) {
  char comm[PROBE_COMM_LEN] = {};
  if (!is_client(comm)) return 0;
  __u16 family = 0;
  if (bpf_probe_read_user(&family, sizeof(family), uservaddr) < 0 || family != AF_UNIX) return 0;
  struct unix_path p = {};
  bpf_probe_read_user(&p.path, sizeof(p.path) - 1, (const char *)uservaddr + 2);
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  bpf_map_update_elem(&unix_connecting, &tid, &p, BPF_ANY);
  return 0;
}

static __always_inline int connect_exit(long ret) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct unix_path *p = bpf_map_lookup_elem(&unix_connecting, &tid);
  if (!p) return 0;
  int translated;
  __u64 id = current_ids(&translated);
  if (ret == 0 && id) {
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
      bpf_ringbuf_submit(r, wake(1));  // its process is looked at while it runs
    }
  }
  bpf_map_delete_elem(&unix_connecting, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int on_connect_enter(struct sys_enter_connect_ctx *ctx) {
  return connect_enter(ctx->uservaddr);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_connect_exit(struct sys_exit_connect_ctx *ctx) {
  return connect_exit(ctx->ret);
}

// The raw syscall tracepoints run for every system call: a compare with connect's number is all the
// others cost. The number and the registers are the architecture's (binding.gyp says which it is).
#if defined(SOL_ARCH_x64)
#define CONNECT_NR 42
struct pt_regs {
  unsigned long si;
  unsigned long orig_ax;
} __attribute__((preserve_access_index));
#define SECOND_ARG(regs) BPF_CORE_READ(regs, si)
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(SOL_ARCH_arm64)
#define CONNECT_NR 203
struct user_pt_regs {
  __u64 regs[31];
} __attribute__((preserve_access_index));
struct pt_regs {
  struct user_pt_regs user_regs;
  __s32 syscallno;
} __attribute__((preserve_access_index));
#define SECOND_ARG(regs) BPF_CORE_READ(regs, user_regs.regs[1])
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#endif

#ifdef CONNECT_NR
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr) {
  if (nr != CONNECT_NR) return 0;
  return connect_enter((const void *)SECOND_ARG(regs));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
  if (SYSCALL_NR(regs) != CONNECT_NR) return 0;
  return connect_exit(ret);
}
#endif

// An SSH client's process ends (its main thread exits): the end of a session it carried over a master.
static __always_inline int exited(void) {
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
  bpf_ringbuf_submit(r, wake(0));
  return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx) {
  return exited();
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit_btf) {
  return exited();
}

#endif
