// Part of probe.bpf.c (included there, at its end): what the kernel keeps of each exec (probe.h's struct
// probe_exec, in the `execs` map by tgid), so that a connection made and finished while no daemon read
// the probe is written with its process, argv and ancestry: by then the process is gone from /proc. Every
// exec on the host runs this (a few helper calls and one copy of at most PROBE_EXEC_ARGS bytes); the map
// is an LRU of PROBE_EXECS_MAX entries, so a long-lived ancestor on a busy host may have been evicted.
#ifndef SSH_OUTBOUND_PROBE_EXEC_BPF_H
#define SSH_OUTBOUND_PROBE_EXEC_BPF_H

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, PROBE_EXECS_MAX);
  __type(key, __u32);
  __type(value, struct probe_exec);
} execs SEC(".maps");

// Too large for the BPF stack: each CPU builds its entry here.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct probe_exec);
} exec_scratch SEC(".maps");

static __always_inline int exec_seen(struct linux_binprm *bprm) {
  int translated;
  __u64 id = current_ids(&translated);
  if (!id) return 0;
  __u32 zero = 0;
  struct probe_exec *e = bpf_map_lookup_elem(&exec_scratch, &zero);
  if (!e) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  e->pid = id >> 32;
  e->ppid = translated ? 0 : BPF_CORE_READ(task, real_parent, tgid);
  e->uid = (__u32)bpf_get_current_uid_gid();
  e->euid = BPF_CORE_READ(task, cred, euid.val);
  e->start_ns = BPF_CORE_READ(task, start_boottime);
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  // The login it belongs to, kept across sudo and su: a connection of a process that exited at once
  // still names who logged in.
  e->loginuid = bpf_core_field_exists(task->loginuid) ? BPF_CORE_READ(task, loginuid.val) : 0xffffffff;
  e->sessionid = bpf_core_field_exists(task->sessionid) ? BPF_CORE_READ(task, sessionid) : 0xffffffff;
  e->filename[0] = 0;
  if (bprm) bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
  unsigned long start = BPF_CORE_READ(task, mm, arg_start);
  unsigned long end = BPF_CORE_READ(task, mm, arg_end);
  __u64 total = end > start ? end - start : 0;
  e->args_total = (__u32)total;
  e->args_len = 0;
  __u32 n = total > PROBE_EXEC_ARGS ? PROBE_EXEC_ARGS : (__u32)total;
  if (n > 0 && n <= PROBE_EXEC_ARGS && bpf_probe_read_user(e->args, n, (const void *)start) == 0) e->args_len = n;
  bpf_map_update_elem(&execs, &e->pid, e, BPF_ANY);
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec_btf, struct task_struct *p, int old_pid, struct linux_binprm *bprm) {
  return exec_seen(bprm);
}

// The tracefs tracepoint gives the path only as a __data_loc string: left out there.
SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx) {
  return exec_seen(0);
}

#endif
