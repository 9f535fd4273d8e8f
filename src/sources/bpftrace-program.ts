/**
 * The bpftrace program of the eBPF source, made for the configured ports and client names so the
 * kernel filters before anything reaches us. One tracepoint, sock:inet_sock_set_state (stable since
 * Linux 4.16; no kprobes, which some kernels here lack):
 *   - SYN_SENT runs in the context of the task calling connect(): the only moment the process is known
 *     for sure, so pid, tid, uid, comm, parent, socket inode and netns are taken there;
 *   - ESTABLISHED (softirq, any task) gives the source address and port;
 *   - CLOSE gives the old state and the tcp_sock byte counters. Like SYN_SENT's context, nothing about
 *     "the current task" is read here: close may run in another task's softirq (tcplife's old bug).
 * Each printf line has at most one free-text field, last, so a task name with spaces parses safely.
 */
export function bpftraceProgram(ports: readonly number[], clients: readonly string[]): string {
  const portMatch = ports.map((p) => `args->dport == ${p}`).join(" || ");
  const commMatch = clients.map((c) => `comm == "${c}"`).join(" || ");
  return `
tracepoint:sock:inet_sock_set_state
/ args->protocol == 6 && args->newstate == 2 && (${portMatch} || ${commMatch}) /
{
  $sk = (struct sock *)args->skaddr;
  @track[$sk] = 1;
  printf("syn %llx %u %u %u %u %u %u %u %u %s %s %llu\\t%s\\n", $sk, pid, tid, uid,
    curtask->real_parent->tgid, $sk->__sk_common.skc_net.net->ns.inum,
    $sk->sk_socket->file->f_inode->i_ino, args->family, args->dport,
    ntop(args->daddr), ntop(args->daddr_v6), nsecs, comm);
  printf("pcomm %llx\\t%s\\n", $sk, curtask->real_parent->comm);
}

tracepoint:sock:inet_sock_set_state
/ args->protocol == 6 && args->newstate == 1 /
{
  $sk = (struct sock *)args->skaddr;
  if (@track[$sk]) {
    printf("est %llx %u %u %s %s %llu\\n", $sk, args->sport, args->family, ntop(args->saddr), ntop(args->saddr_v6), nsecs);
  }
}

tracepoint:sock:inet_sock_set_state
/ args->protocol == 6 && args->newstate == 7 /
{
  $sk = (struct sock *)args->skaddr;
  if (@track[$sk] || ${portMatch}) {
    $tp = (struct tcp_sock *)$sk;
    printf("close %llx %d %llu %llu %llu %u %u %u %u %s %s %s %s\\n", $sk, args->oldstate,
      $tp->bytes_acked, $tp->bytes_received, nsecs, args->family, args->sport, args->dport,
      $sk->__sk_common.skc_net.net->ns.inum,
      ntop(args->saddr), ntop(args->saddr_v6), ntop(args->daddr), ntop(args->daddr_v6));
    delete(@track[$sk]);
  }
}

END { clear(@track); }
`;
}
