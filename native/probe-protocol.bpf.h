// Part of probe.bpf.c (included there, after its helpers): SSH recognised by what it speaks (issue 24).
// Every SSH connection begins with each side's identification string, "SSH-2.0-software" (RFC 4253
// §4.2), before anything else. So:
//   - at SYN_SENT (tp_btf only: the socket's cookie needs a BTF-typed socket), an outbound TCP socket
//     that the port and name filters did not choose becomes a candidate: what only the connecting task
//     can tell (its process, uid, parent, the time) goes into `watches`, an array of sets of
//     WATCH_WAYS slots, the set named by the socket cookie's low bits; the slot keeps the whole cookie
//     (unique for the socket's life, so a slot never speaks for another socket). One the filters chose
//     gets a slot too, for its banners. Entering and leaving are a few loads and stores: no hash, no
//     lock, no allocation. A close clears what is left. A socket takes a free slot of its set, or else
//     the one with the smallest cookie (about the oldest): a waiting candidate is pushed out only by
//     WATCH_WAYS others in its set, their cookies PROBE_WATCHES_MAX / WATCH_WAYS apart, while it waits
//     (cookies are given in sequence, per CPU in batches, so one set is rarely asked for twice);
//   - at ESTABLISHED, a candidate's slot takes the time;
//   - two programs see what each socket sends and receives, in every network namespace: TCP's own
//     tracepoints (the socket hooks, the default: tcp_sendmsg_locked with the application's buffer,
//     tcp_probe with each received segment), or two cgroup_skb programs on the cgroup v2 root (the
//     packet hooks: every IP packet, its bytes as on the wire). What the socket's own counters say is
//     not its first payload that way (something sent or queued before; bytes received before; no
//     payload) costs a few loads and no lookup. The first payload each way is looked at once: "SSH-"
//     makes a candidate a tracked connection (its connect and establishment are sent then, with their
//     own times) and sends that payload's first bytes as a BANNER; anything else from the client and a
//     candidate is forgotten (from the server, it waits for the client's: a server may send other lines
//     first). Once both ways were looked at, the entry goes.
#ifndef SSH_OUTBOUND_PROBE_PROTOCOL_BPF_H
#define SSH_OUTBOUND_PROBE_PROTOCOL_BPF_H

// The socket hooks' view of the kernel's types (CO-RE: offsets and enum values from the kernel's BTF).
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct iovec {
  void *iov_base;
  unsigned long iov_len;
};
struct iov_iter {
  __u8 iter_type;
  unsigned long iov_offset;
  union {
    struct iovec __ubuf_iovec;
    struct {
      union {
        const struct iovec *__iov;
        void *ubuf;
      };
      unsigned long count;
    };
  };
};
struct msghdr {
  struct iov_iter msg_iter;
};
struct sk_buff {
  unsigned int len;
  char cb[48];  // TCP's control block on receive: struct tcp_skb_cb, whose seq and end_seq lead it
};
#pragma clang attribute pop
enum iter_type { ITER_UBUF, ITER_IOVEC, ITER_BVEC, ITER_KVEC };
// Weak: a kernel without them still loads the rest (the socket hooks are then refused, and the packet
// hooks used). bpf_rdonly_cast is a cast the verifier checks and then removes, no call: a TCP
// tracepoint's socket read as the tcp_sock it is, where bpf_skc_to_tcp_sock is a helper called on every
// send and segment (18 ns a segment less, measured).
extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id) __ksym __weak;
#define TCP_SOCK_OF(sk) ((struct tcp_sock *)bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock)))

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct probe_settings);
} settings SEC(".maps");

// One socket's watch: its connect as at SYN_SENT, without its addresses, namespace and inode (read from
// the socket when it turns out to be SSH: at SYN_SENT it has no local port yet).
struct watch {
  struct probe_record connect;
  __u64 established_ns;  // 0 until then
  __u8 chosen;           // by the filters: tracked already, only the banners are wanted
  // The first payload each way was looked at. Separate bytes: the two ways can run on two CPUs at once.
  __u8 sent_seen;
  __u8 received_seen;
  __u8 claimed;  // a first payload said SSH: the candidate is tracked (by whichever way saw it)
  __u8 pad[4];
};

// Sets of WATCH_WAYS watches, a set named by the low bits of its sockets' cookies. The cookies of a set
// are kept apart from the watches, 32 bytes a set: finding a socket's watch, or that it has none,
// reads one cache line. A watch is at way * WATCH_SETS + set: consecutive cookies (the usual) take
// neighbouring watches of the first way.
#define WATCH_WAYS 4
#define WATCH_SETS (PROBE_WATCHES_MAX / WATCH_WAYS)
_Static_assert((WATCH_SETS & (WATCH_SETS - 1)) == 0, "a cookie's low bits name its set");
struct watch_set {
  __u64 cookie[WATCH_WAYS];  // the socket whose watch each way is; 0: free
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, WATCH_SETS);
  __type(key, __u32);  // the socket cookie's low bits
  __type(value, struct watch_set);
} watch_sets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, PROBE_WATCHES_MAX);
  __type(key, __u32);  // way * WATCH_SETS + set
  __type(value, struct watch);
} watches SEC(".maps");

// Where a socket's watch is.
struct watch_ref {
  struct watch_set *set;
  __u64 cookie;
  __u32 way;
};

// The set of COOKIE (an array's lookup: the verifier makes it an address computation).
static __always_inline struct watch_set *set_of(__u64 cookie) {
  __u32 i = cookie & (WATCH_SETS - 1);
  return bpf_map_lookup_elem(&watch_sets, &i);
}

// The watch in way K of COOKIE's set.
static __always_inline struct watch *watch_at(__u64 cookie, __u32 k) {
  __u32 i = (k & (WATCH_WAYS - 1)) * WATCH_SETS + (cookie & (WATCH_SETS - 1));
  return bpf_map_lookup_elem(&watches, &i);
}

// The watch of the socket with COOKIE, if it has one; where it is in REF.
static __always_inline struct watch *watch_find(__u64 cookie, struct watch_ref *ref) {
  struct watch_set *s = set_of(cookie);
  if (!s) return 0;
  ref->set = s;
  ref->cookie = cookie;
#pragma unroll
  for (__u32 k = 0; k < WATCH_WAYS; k++) {
    if (s->cookie[k] == cookie) {
      ref->way = k;
      return watch_at(cookie, k);
    }
  }
  return 0;
}

// Ends the watch at REF, unless its way was taken since by another socket.
static __always_inline void unwatch_ref(const struct watch_ref *ref) {
  __u32 k = ref->way & (WATCH_WAYS - 1);
  if (ref->set->cookie[k] == ref->cookie) ref->set->cookie[k] = 0;
}

static __always_inline int protocol_on(void) {
  __u32 zero = 0;
  struct probe_settings *s = bpf_map_lookup_elem(&settings, &zero);
  return s && s->protocol;
}

// At SYN_SENT (BTF-typed socket): SK's payloads are to be looked at; R is its connect. The cookie is
// given to the socket here (the kernel's counter, batched per CPU) if nothing asked for it before. It
// takes its own way (a socket connecting again), a free one, or the one with the smallest cookie (about
// the oldest). The way is marked free while it is written, and SK's last: one who looks meanwhile
// finds no watch.
static __always_inline void watch_payloads(struct sock *sk, const struct probe_record *r, int chosen) {
  __u64 cookie = bpf_get_socket_cookie(sk);
  struct watch_set *s = set_of(cookie);
  if (!s) return;
  __u32 free = WATCH_WAYS, oldest = 0, k = 0;
#pragma unroll
  for (__u32 i = 0; i < WATCH_WAYS; i++) {
    __u64 c = s->cookie[i];
    if (c == cookie || (!c && free == WATCH_WAYS)) free = i;
    else if (c && c < s->cookie[oldest & (WATCH_WAYS - 1)]) oldest = i;
  }
  k = (free < WATCH_WAYS ? free : oldest) & (WATCH_WAYS - 1);
  struct watch *w = watch_at(cookie, k);
  if (!w) return;
  s->cookie[k] = 0;
  barrier();
  __builtin_memcpy(&w->connect, r, sizeof(w->connect));
  w->established_ns = 0;
  w->chosen = chosen;
  w->sent_seen = w->received_seen = w->claimed = 0;
  barrier();
  s->cookie[k] = cookie;
}

// SK's watch, if it has one; where it is in REF. A socket whose cookie was never asked for has none.
static __always_inline struct watch *watch_of(struct sock *sk, struct watch_ref *ref) {
  __u64 cookie = sk->__sk_common.skc_cookie.counter;
  return cookie ? watch_find(cookie, ref) : 0;
}

// At a close: what is left of SK's watch (a candidate refused, or closed before its first payload).
static __always_inline void unwatch(struct sock *sk) {
  struct watch_ref ref;
  if (watch_of(sk, &ref)) unwatch_ref(&ref);
}

// At ESTABLISHED: a candidate's time, for the records sent if it turns out to be SSH.
static __always_inline void watch_established(struct sock *sk) {
  struct watch_ref ref;
  struct watch *w = watch_of(sk, &ref);
  if (w && !w->chosen) w->established_ns = bpf_ktime_get_ns();
}

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

// Where the TCP payload of SKB begins, 0 when it has none or is not TCP. A cgroup_skb program's packet
// begins at its network header, both ways; bpf_skb_load_bytes reads past the linear part too (a
// payload in page fragments, as TCP sends it), which bpf_skb_load_bytes_relative does not.
static __always_inline __u32 payload_at(struct __sk_buff *skb) {
  __u32 ip_len;
  __u8 proto, b;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    if (bpf_skb_load_bytes(skb, 0, &b, 1) || bpf_skb_load_bytes(skb, 9, &proto, 1)) return 0;
    ip_len = (b & 0xf) * 4;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    // Extension headers before TCP are not followed: such a packet is taken as having no payload.
    if (bpf_skb_load_bytes(skb, 6, &proto, 1)) return 0;
    ip_len = 40;
  } else {
    return 0;
  }
  if (proto != IPPROTO_TCP) return 0;
  if (bpf_skb_load_bytes(skb, ip_len + 12, &b, 1)) return 0;
  __u32 at = ip_len + (b >> 4) * 4;
  return skb->len > at ? at : 0;
}

// One way's first payload of SK, watched by W: HEAD its first bytes, READABLE whether 4 of them could
// be read. Returns 1 when they begin an identification string (the caller then sends them as a BANNER).
// The first to claim a candidate (the other way may be on another CPU now) sends its connect and
// establishment, with the times the kernel saw them and the socket's addresses as they are now.
static __always_inline int look(struct watch *w, struct sock *sk, int sent, int readable, const char *head) {
  if (sent) w->sent_seen = 1;
  else w->received_seen = 1;
  int ssh = readable && head[0] == 'S' && head[1] == 'S' && head[2] == 'H' && head[3] == '-';
  if (ssh && !w->chosen) {
    struct probe_record c;
    __builtin_memcpy(&c, &w->connect, sizeof(c));
    __u64 established_ns = w->established_ns;
    // A slot taken meanwhile by another socket says nothing of SK, and is not SK's to mark.
    if (c.sk != (__u64)sk) return ssh;
    w->claimed = 1;
    __u8 one = 1;
    if (bpf_map_update_elem(&tracked, &c.sk, &one, BPF_NOEXIST) == 0) {
      socket_facts(&c, sk, 1);
      send(&c);
      if (established_ns) {
        c.kind = PROBE_ESTABLISHED;
        c.time_ns = established_ns;
        send(&c);
      }
    }
  }
  return ssh;
}

// Whether a watch has done its work after `look`: both ways were looked at; or a candidate's client sent
// something else. The client's first bytes must be its identification string; the server may send other
// lines before its own (RFC 4253 §4.2), so after those it waits for what its client sends. Bytes that
// could not be read decide nothing.
static __always_inline int watch_done(struct watch *w, int sent, int readable, int ssh) {
  if (w->sent_seen && w->received_seen) return 1;
  return !(ssh || !sent || !readable || w->chosen || w->claimed);
}

// A BANNER record for SK, LEN the payload's length; its bytes are the caller's to fill, and
// how many of them are the payload's (bytes_received: 0 for min(LEN, PROBE_PATH_LEN)).
static __always_inline struct probe_client_record *reserve_banner(struct sock *sk, int sent, __u64 len) {
  struct probe_client_record *r = reserve_client(PROBE_BANNER);
  if (!r) return 0;
  r->base.sk = (__u64)sk;
  r->base.oldstate = sent ? PROBE_BANNER_SENT : PROBE_BANNER_RECEIVED;
  r->base.bytes_acked = len;
  return r;
}

// The packet hooks (--protocol packets, and where the kernel lacks the socket hooks' tracepoints).
// Egress runs after TCP counted the packet; ingress before TCP took it.
static __always_inline int first_payload(struct __sk_buff *skb, int sent) {
  struct bpf_sock *bs = skb->sk;
  if (!bs) return 1;
  bs = bpf_sk_fullsock(bs);
  if (!bs) return 1;
  struct bpf_tcp_sock *tp = bpf_tcp_sock(bs);
  if (!tp) return 1;
  __u32 segs = skb->gso_segs ? skb->gso_segs : 1;
  if (sent ? tp->data_segs_out > segs : tp->bytes_received != 0) return 1;
  __u32 at = payload_at(skb);
  if (!at) return 1;
  struct watch_ref ref;
  struct watch *w = watch_find(bpf_get_socket_cookie(skb), &ref);
  if (!w) return 1;
  if (sent ? w->sent_seen : w->received_seen) return 1;
  // The socket as the kernel's own type, for its addresses when it is SSH.
  struct sock *ks = (struct sock *)bpf_skc_to_tcp_sock(bs);
  if (!ks) return 1;
  char head[4] = {};
  int readable = bpf_skb_load_bytes(skb, at, head, 4) == 0;
  int ssh = look(w, ks, sent, readable, head);
  if (ssh) {
    __u64 len = (__u64)skb->len - (__u64)at;  // 64-bit: compared and passed in one register
    struct probe_client_record *r = reserve_banner(ks, sent, len);
    if (r) {
      // Two calls, each with a size the verifier can bound: the whole room, or less than it.
      if (len >= PROBE_PATH_LEN) bpf_skb_load_bytes(skb, at, r->path, PROBE_PATH_LEN);
      else if (len > 0) bpf_skb_load_bytes(skb, at, r->path, len);
      bpf_ringbuf_submit(r, wake(0));
    }
  }
  if (watch_done(w, sent, readable, ssh)) unwatch_ref(&ref);
  return 1;
}

SEC("cgroup_skb/egress")
int on_egress(struct __sk_buff *skb) {
  return first_payload(skb, 1);
}

SEC("cgroup_skb/ingress")
int on_ingress(struct __sk_buff *skb) {
  return first_payload(skb, 0);
}

// The socket hooks (the default): TCP's own tracepoints, no cost for any other protocol's packets and,
// on TCP, a tracepoint's rather than a cgroup hook's. What the client sends: the first sendmsg's bytes
// as the application gave them (tcp_sendmsg_locked runs once per buffer it fills, before the copy).
// The first bytes a sendmsg gives, gathered from up to 4 of its segments (a writev may give a banner
// in pieces): twice the room kept, so that each read's offset and size are bounded on their own.
struct sent_bytes {
  char b[2 * PROBE_PATH_LEN];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sent_bytes);
} scratch SEC(".maps");

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(on_send, struct sock *sk, struct msghdr *msg, struct sk_buff *skb, int size_goal) {
  // Its first payload: nothing sent, nothing queued (the tracepoint runs before each copy).
  struct tcp_sock *tp = TCP_SOCK_OF(sk);
  if (!tp || tp->data_segs_out || tp->write_seq != tp->snd_nxt) return 0;
  struct watch_ref ref;
  struct watch *w = watch_of(sk, &ref);
  if (!w || w->sent_seen) return 0;
  struct iov_iter *it = &msg->msg_iter;
  __u8 type = it->iter_type;
  __u64 off = it->iov_offset, len = it->count, got = 0;
  int ubuf = type == bpf_core_enum_value(enum iter_type, ITER_UBUF);
  int user = ubuf || type == bpf_core_enum_value(enum iter_type, ITER_IOVEC);
  // A kvec is laid out as an iovec (a kernel socket's sender). Pages (splice, sendfile) are not read.
  const struct iovec *v = user || type == bpf_core_enum_value(enum iter_type, ITER_KVEC) ? it->__iov : 0;
  // A candidate's first 4 bytes decide most: anything but "SSH-" is forgotten with nothing more read.
  // Read into the stack: a read into a map's memory costs the kernel's usercopy checks on it.
  if (v && !w->chosen) {
    const char *first = ubuf ? (const char *)it->ubuf + off : (const char *)BPF_CORE_READ(v, iov_base) + off;
    __u64 n = ubuf ? len + off : BPF_CORE_READ(v, iov_len);  // the first segment's, from its start
    char head[4];
    if (n >= off + 4 && len >= 4 &&
        (user ? bpf_probe_read_user(head, 4, first) : bpf_probe_read_kernel(head, 4, first)) == 0 &&
        !(head[0] == 'S' && head[1] == 'S' && head[2] == 'H' && head[3] == '-')) {
      look(w, sk, 1, 1, head);
      if (watch_done(w, 1, 1, 0)) unwatch_ref(&ref);
      return 0;
    }
  }
  __u32 zero = 0;
  struct sent_bytes *buf = bpf_map_lookup_elem(&scratch, &zero);
  if (!buf) return 0;
  for (int i = 0; i < 4 && v; i++) {
    if (got >= PROBE_PATH_LEN || got >= len) break;
    const char *base;
    __u64 n;
    if (ubuf) {
      base = (const char *)it->ubuf + off;
      n = len;
    } else {
      base = (const char *)BPF_CORE_READ(v + i, iov_base);
      n = BPF_CORE_READ(v + i, iov_len);
      if (i == 0) {
        base += off;  // the offset is within the first segment
        n = n > off ? n - off : 0;
      }
    }
    if (n > len - got) n = len - got;
    if (n > PROBE_PATH_LEN) n = PROBE_PATH_LEN;
    // A segment not in memory now ends what is read (the kernel's copy will fault it in).
    if ((user ? bpf_probe_read_user(&buf->b[got], n, base) : bpf_probe_read_kernel(&buf->b[got], n, base)) != 0) break;
    got += n;
    if (ubuf) break;
  }
  if (got > PROBE_PATH_LEN) got = PROBE_PATH_LEN;
  // Fewer than 4 bytes read decide nothing: the server's side decides then.
  int readable = got >= 4;
  int ssh = look(w, sk, 1, readable, buf->b);
  if (ssh) {
    struct probe_client_record *r = reserve_banner(sk, 1, len);
    if (r) {
      // Only what this sendmsg gave (the rest of the scratch is another socket's).
      bpf_probe_read_kernel(r->path, got, buf->b);
      r->base.bytes_received = got;
      bpf_ringbuf_submit(r, wake(0));
    }
  }
  if (watch_done(w, 1, readable, ssh)) unwatch_ref(&ref);
  return 0;
}

// What the server sends: each segment TCP receives on an established socket (tcp_probe, before it is
// processed; the skb's data begins at its TCP header), read through a dynptr (its payload is often in
// page fragments).
SEC("tp_btf/tcp_probe")
int BPF_PROG(on_segment, struct sock *sk, struct sk_buff *skb) {
  // Its first payload: nothing received before, and this segment carries some (TCP_SKB_CB's end_seq
  // beyond its seq; an acknowledgement's are equal).
  struct tcp_sock *tp = TCP_SOCK_OF(sk);
  if (!tp || tp->bytes_received) return 0;
  if (*(__u32 *)&skb->cb[0] == *(__u32 *)&skb->cb[4]) return 0;
  struct watch_ref ref;
  struct watch *w = watch_of(sk, &ref);
  if (!w || w->received_seen) return 0;
  struct bpf_dynptr d;
  __u8 doff;
  if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &d) || bpf_dynptr_read(&doff, 1, &d, 12, 0)) return 0;
  __u32 at = (doff >> 4) * 4;
  __u64 len = skb->len;
  if (len <= at) return 0;  // no payload: an acknowledgement
  len -= at;
  char head[4] = {};
  int readable = bpf_dynptr_read(head, 4, &d, at, 0) == 0;
  int ssh = look(w, sk, 0, readable, head);
  if (ssh) {
    struct probe_client_record *r = reserve_banner(sk, 0, len);
    if (r) {
      if (len >= PROBE_PATH_LEN) bpf_dynptr_read(r->path, PROBE_PATH_LEN, &d, at, 0);
      else bpf_dynptr_read(r->path, len, &d, at, 0);
      bpf_ringbuf_submit(r, wake(0));
    }
  }
  if (watch_done(w, 0, readable, ssh)) unwatch_ref(&ref);
  return 0;
}

#endif
