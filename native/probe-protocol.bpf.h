// Part of probe.bpf.c (included there, after its helpers): SSH recognised by what it speaks (issue 24).
// Every SSH connection begins with each side's identification string, "SSH-2.0-software" (RFC 4253
// §4.2), before anything else. So:
//   - at SYN_SENT (tp_btf only: socket storage needs a BTF-typed socket), an outbound TCP socket that
//     the port and name filters did not choose gets socket storage holding its connect record (a
//     candidate); one they chose gets it too, for its banners. The storage goes with the socket: no
//     table to fill, nothing left behind by a socket whose close was not seen;
//   - at ESTABLISHED, a candidate's storage takes its local address and the time;
//   - two cgroup_skb programs on the cgroup v2 root see every socket's packets, in every network
//     namespace. A packet of a socket without storage costs one lookup. The first payload each way is
//     looked at once: "SSH-" makes a candidate a tracked connection (its connect and establishment are
//     sent then, with their own times) and sends that payload's first bytes as a BANNER; anything else
//     from the client and a candidate is forgotten (from the server, it waits for the client's: a
//     server may send other lines first). Once both ways were looked at, the storage goes.
#ifndef SSH_OUTBOUND_PROBE_PROTOCOL_BPF_H
#define SSH_OUTBOUND_PROBE_PROTOCOL_BPF_H

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct probe_settings);
} settings SEC(".maps");

// One socket's watch: its connect as at SYN_SENT (from ESTABLISHED on, with its local address).
struct watch {
  struct probe_record connect;
  __u64 established_ns;  // 0 until then
  __u8 chosen;           // by the filters: tracked already, only the banners are wanted
  // The first payload each way was looked at. Separate bytes: the two ways can run on two CPUs at once.
  __u8 sent_seen;
  __u8 received_seen;
  __u8 pad[5];
};

struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct watch);
} watches SEC(".maps");

static __always_inline int protocol_on(void) {
  __u32 zero = 0;
  struct probe_settings *s = bpf_map_lookup_elem(&settings, &zero);
  return s && s->protocol;
}

// At SYN_SENT (BTF-typed socket): SK's payloads are to be looked at; R is its connect.
static __always_inline void watch_payloads(struct sock *sk, const struct probe_record *r, int chosen) {
  struct watch *w = bpf_sk_storage_get(&watches, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  if (!w) return;
  __builtin_memcpy(&w->connect, r, sizeof(w->connect));
  w->established_ns = 0;
  w->chosen = chosen;
  w->sent_seen = 0;
  w->received_seen = 0;
}

// At ESTABLISHED: a candidate's local address and time, for the records sent if it turns out to be SSH.
static __always_inline void watch_established(struct sock *sk) {
  struct watch *w = bpf_sk_storage_get(&watches, sk, 0, 0);
  if (!w || w->chosen) return;
  addresses(&w->connect, sk);
  w->established_ns = bpf_ktime_get_ns();
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

static __always_inline void send_banner(struct __sk_buff *skb, __u64 sk, __u32 at, int sent) {
  struct probe_client_record *r = reserve_client(PROBE_BANNER);
  if (!r) return;
  r->base.sk = sk;
  r->base.oldstate = sent ? PROBE_BANNER_SENT : PROBE_BANNER_RECEIVED;
  __u64 len = (__u64)skb->len - (__u64)at;  // 64-bit: compared and passed in one register
  r->base.bytes_acked = len;
  // Two calls, each with a size the verifier can bound: the whole room, or less than it.
  if (len >= PROBE_PATH_LEN) bpf_skb_load_bytes(skb, at, r->path, PROBE_PATH_LEN);
  else if (len > 0) bpf_skb_load_bytes(skb, at, r->path, len);
  bpf_ringbuf_submit(r, 0);
}

static __always_inline int first_payload(struct __sk_buff *skb, int sent) {
  struct bpf_sock *bs = skb->sk;
  if (!bs) return 1;
  bs = bpf_sk_fullsock(bs);
  if (!bs) return 1;
  struct watch *w = bpf_sk_storage_get(&watches, bs, 0, 0);
  if (!w) return 1;
  if (sent ? w->sent_seen : w->received_seen) return 1;
  __u32 at = payload_at(skb);
  if (!at) return 1;
  if (sent) w->sent_seen = 1;
  else w->received_seen = 1;
  char head[4] = {};
  int ssh = bpf_skb_load_bytes(skb, at, head, 4) == 0 && head[0] == 'S' &&
            head[1] == 'S' && head[2] == 'H' && head[3] == '-';
  __u64 sk = w->connect.sk;
  if (!ssh) {
    // The client's first bytes must be its identification string; the server may send other lines
    // before its own (RFC 4253 §4.2). So a candidate whose client sent anything else is forgotten at
    // once; one whose server did waits for what its client sends.
    if (sent && !w->chosen && !bpf_map_lookup_elem(&tracked, &sk)) bpf_sk_storage_delete(&watches, bs);
    else if (w->sent_seen && w->received_seen) bpf_sk_storage_delete(&watches, bs);
    return 1;
  }
  if (!w->chosen) {
    // The first to claim it (the other way may be on another CPU now) sends its connect and
    // establishment, as the kernel saw them then.
    __u8 one = 1;
    if (bpf_map_update_elem(&tracked, &sk, &one, BPF_NOEXIST) == 0) {
      send(&w->connect);
      if (w->established_ns) {
        struct probe_record e = {};
        __builtin_memcpy(&e, &w->connect, sizeof(e));
        e.kind = PROBE_ESTABLISHED;
        e.time_ns = w->established_ns;
        send(&e);
      }
    }
  }
  send_banner(skb, sk, at, sent);
  if (w->sent_seen && w->received_seen) bpf_sk_storage_delete(&watches, bs);
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

#endif
