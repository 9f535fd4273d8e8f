// Part of probe.bpf.c (included there, after its helpers): floods counted in the kernel (probe.h). A
// token bucket per uid, as the daemon's flood gate has; beyond it a connect's record waits in `quiet`,
// and one that ends before it is established is counted per user and per destination.
#ifndef SSH_OUTBOUND_PROBE_FLOOD_BPF_H
#define SSH_OUTBOUND_PROBE_FLOOD_BPF_H

// Counting floods in the kernel (see probe.h): the policy, each user's bucket, the connects held back
// and what was counted. The bucket map is LRU: a forgotten bucket is a full one, as the daemon's are.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct probe_flood);
} flood SEC(".maps");

struct bucket {
  __u64 nano_tokens;  // tokens × 10^9, so that the refill needs no division
  __u64 last_ns;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct bucket);
} buckets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct probe_record);
} quiet SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct probe_attempt_key);
  __type(value, struct probe_attempts);
} attempts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, struct probe_user_attempts);
} user_attempts SEC(".maps");

// Of each user's totals, what a daemon has reported (the loader's; the program never touches it): the
// next daemon, taking over a pinned probe, reports only what came after.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct probe_user_attempts);
} reported SEC(".maps");

#define NANO 1000000000ull

// Takes one token from the user's bucket; 0 when it is empty (the connect is beyond the user's rate).
// Two CPUs may refill the same bucket at once: the rate is approximate, never the count.
static __always_inline int take_token(__u32 uid, __u64 now) {
  __u32 zero = 0;
  struct probe_flood *f = bpf_map_lookup_elem(&flood, &zero);
  if (!f || f->rate == 0) return 1;
  __u64 full = f->burst * NANO;
  struct bucket *b = bpf_map_lookup_elem(&buckets, &uid);
  if (!b) {
    struct bucket fresh = {.nano_tokens = full - NANO, .last_ns = now};
    bpf_map_update_elem(&buckets, &uid, &fresh, BPF_ANY);
    return 1;
  }
  __u64 tokens = b->nano_tokens;
  if (now > b->last_ns) {
    __u64 elapsed = now - b->last_ns;
    // Past the time to fill it the bucket is full (and the product below could overflow).
    if (elapsed >= full / f->rate) tokens = full;
    else {
      tokens += elapsed * f->rate;
      if (tokens > full) tokens = full;
    }
    b->last_ns = now;
  }
  if (tokens < NANO) {
    b->nano_tokens = tokens;
    return 0;
  }
  b->nano_tokens = tokens - NANO;
  return 1;
}

static __always_inline int count_attempt(const struct probe_record *q, __u64 now) {
  __u32 uid = q->uid;
  struct probe_user_attempts *u = bpf_map_lookup_elem(&user_attempts, &uid);
  if (!u) {
    struct probe_user_attempts fresh = {};
    bpf_map_update_elem(&user_attempts, &uid, &fresh, BPF_NOEXIST);
    u = bpf_map_lookup_elem(&user_attempts, &uid);
    if (!u) return 0;
  }
  struct probe_attempt_key k = {.uid = uid, .family = q->family, .dport = q->dport};
  __builtin_memcpy(k.daddr, q->daddr, sizeof(k.daddr));
  struct probe_attempts *a = bpf_map_lookup_elem(&attempts, &k);
  if (!a) {
    struct probe_attempts fresh = {.first_ns = q->time_ns, .pid = q->pid, .netns = q->netns};
    __builtin_memcpy(fresh.comm, q->comm, sizeof(fresh.comm));
    bpf_map_update_elem(&attempts, &k, &fresh, BPF_NOEXIST);
    a = bpf_map_lookup_elem(&attempts, &k);
  }
  if (a) {
    __sync_fetch_and_add(&a->count, 1);
    a->last_ns = now;
    a->pid = q->pid;
    __builtin_memcpy(a->comm, q->comm, sizeof(a->comm));
  } else {
    __sync_fetch_and_add(&u->unlisted, 1);
  }
  __sync_fetch_and_add(&u->count, 1);
  u->last_ns = now;
  return 1;
}

#endif
