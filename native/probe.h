// The record the BPF program (probe.bpf.c) sends through its ring buffer, and the loader (probe.c) hands
// to JavaScript unchanged; src/sources/ebpf/probe-records.ts reads it. One layout for all three: change it in
// all of them, and bump PROBE_RECORD_VERSION.
#ifndef SSH_OUTBOUND_PROBE_H
#define SSH_OUTBOUND_PROBE_H

#define PROBE_RECORD_VERSION 4
#define PROBE_COMM_LEN 16
#define PROBE_PATH_LEN 112
// The filters' sizes: the configuration's bounds on --ports and --clients (src/config.ts).
#define PROBE_PORTS_MAX 1024
#define PROBE_CLIENTS_MAX 256
// SSH by protocol: live outbound sockets not yet past their first payload each way, at most (an LRU
// hash; beyond it the least recent candidate is forgotten).
#define PROBE_WATCHES_MAX 65536

// CONNECT, ESTABLISHED, CLOSE: a TCP socket's transitions. UNIX_CONNECT: an SSH client connected to a
// unix socket (path: the address it gave, a control master's ControlPath). EXIT: an SSH client exited.
// BANNER: the first bytes a tracked connection sent or received began with "SSH-" (path: those bytes).
enum probe_kind {
  PROBE_CONNECT = 1,
  PROBE_ESTABLISHED = 2,
  PROBE_CLOSE = 3,
  PROBE_UNIX_CONNECT = 4,
  PROBE_EXIT = 5,
  PROBE_BANNER = 6,
};

// Why a CONNECT was chosen (its `oldstate` field): the remote port, the task's name, its parent's name
// (a ProxyCommand's child), or the protocol: its first payload began with "SSH-" (issue 24). A connect
// chosen by protocol is sent when that payload is seen, with the time of its SYN_SENT, followed by
// its ESTABLISHED (with that time too).
enum probe_via {
  PROBE_VIA_PORT = 1,
  PROBE_VIA_CLIENT = 2,
  PROBE_VIA_PARENT = 3,
  PROBE_VIA_PROTOCOL = 4,
};

// A BANNER's direction (its `oldstate` field); its `bytes_acked` is the payload's length in that packet.
enum probe_banner_side {
  PROBE_BANNER_SENT = 1,      // the client's identification string
  PROBE_BANNER_RECEIVED = 2,  // the server's
};

// The loader's switches (the `settings` map, one entry). protocol: every outbound TCP connection that the
// filters did not choose is watched until its first payload each way (probe-protocol.bpf.h); 0: only
// the filters choose, and no socket gets storage.
struct probe_settings {
  __u32 protocol;
  __u32 reserved;
};

// 136 bytes, every field at its natural alignment, no padding left to chance. A TCP transition is one of
// these; a client's record (UNIX_CONNECT, EXIT) is the longer probe_client_record below. Both carry
// `kind` at the same offset, so a reader tells their sizes apart by it.
struct probe_record {
  __u64 sk;              // kernel socket address: the id every transition carries
  __u64 time_ns;         // CLOCK_MONOTONIC (bpf_ktime_get_ns)
  __u64 bytes_acked;     // close: tcp_sock counters
  __u64 bytes_received;
  __u64 inode;           // connect: the socket's inode
  __u32 kind;            // enum probe_kind
  __u32 pid;             // connect: tgid of the task calling connect()
  __u32 tid;
  __u32 uid;
  __u32 ppid;            // tgid of the parent
  __u32 netns;           // inode of the socket's network namespace
  __u16 family;          // AF_INET or AF_INET6
  __u16 sport;           // host order
  __u16 dport;
  __u16 oldstate;        // close: the state it left; connect: enum probe_via; banner: its side
  __u8 saddr[16];        // IPv4 in the first 4 bytes, or IPv6
  __u8 daddr[16];
  char comm[PROBE_COMM_LEN];
  char pcomm[PROBE_COMM_LEN];
};

// 248 bytes: the same fields, then the unix socket's address, or a banner's first bytes.
struct probe_client_record {
  struct probe_record base;
  char path[PROBE_PATH_LEN];  // UNIX_CONNECT: sun_path as given (an abstract name starts with NUL);
                              // BANNER: the payload's first bytes (up to PROBE_PATH_LEN, not terminated)
};

// Floods, counted in the kernel (issue 19). A connect beyond its user's rate (a token bucket per uid, as
// the daemon's flood gate has) is not sent at SYN_SENT: its record waits in the `quiet` map. Established,
// it is sent then (with its SYN_SENT time), and the daemon's gate decides as for any other. Ended before
// that (refused, timed out, abandoned), it is counted here instead of becoming two records: per user
// (exact, cumulative, never deleted) and per destination (the listed detail, taken and cleared by the
// daemon). When a map is full, the connect goes out as records as usual: nothing is dropped.
struct probe_flood {
  __u64 rate;   // connects a second per user, sustained; 0: no counting in the kernel
  __u64 burst;  // at once
};

// 24 bytes.
struct probe_attempt_key {
  __u32 uid;
  __u16 family;
  __u16 dport;
  __u8 daddr[16];
};

// 48 bytes.
struct probe_attempts {
  __u64 count;
  __u64 first_ns;  // CLOCK_MONOTONIC of the first connect counted here
  __u64 last_ns;   // and of the last end
  __u32 pid;       // the last connecting process
  __u32 netns;
  char comm[PROBE_COMM_LEN];
};

// 24 bytes: a user's totals since the program was loaded.
struct probe_user_attempts {
  __u64 count;
  __u64 last_ns;
  __u64 unlisted;  // of count, those the per-destination map had no room for
};

// The daemons' notes on a pinned probe (the `meta` map, one entry): which object it is, since when it
// is pinned, and what the last reader had reported and when it last looked. The programs never touch it.
// 72 bytes.
struct probe_meta {
  __u64 object_hash;     // FNV-1a of the BPF object: a daemon reuses only a probe of its own object
  __u64 pinned_at_ns;    // CLOCK_REALTIME when it was pinned
  __u64 read_mono_ns;    // CLOCK_MONOTONIC when a daemon last read it (its counters; a stop)
  __u64 stopped_mono_ns; // CLOCK_MONOTONIC when the last daemon stopped reading; 0 while one reads
  __u64 lost_reported;   // of the program's count of lost records, what a daemon has reported
  __u32 record_version;  // PROBE_RECORD_VERSION of the object: its ring buffer's layout
  __u32 attach;          // PROBE_ATTACH_*
  __u64 complete;        // 1 once every map and link is pinned (written last)
  __u64 reader_start;    // the reading daemon's start time (/proc/PID/stat field 22), with its pid:
  __u32 reader_pid;      // a second daemon leaves a probe that a live one reads alone; 0 after a stop
  __u32 reserved;
};

// What the program keeps of each exec (the `execs` map, by tgid): a connection made and finished while
// no daemon ran is written with its process, argv and ancestry from here, the process being gone from
// /proc by then. Bounded: PROBE_EXECS_MAX entries (LRU), PROBE_EXEC_ARGS bytes of argv each.
#define PROBE_EXECS_MAX 4096
#define PROBE_EXEC_ARGS 512
#define PROBE_EXEC_PATH 128
// 696 bytes.
struct probe_exec {
  __u64 start_ns;        // task->start_boottime: ns since boot, as /proc/PID/stat's start time counts
  __u32 pid;             // tgid, as the daemon sees it
  __u32 ppid;
  __u32 uid;
  __u32 euid;
  __u32 args_len;        // bytes kept in `args` (NUL-separated)
  __u32 args_total;      // the whole argv's size
  char comm[PROBE_COMM_LEN];
  char filename[PROBE_EXEC_PATH];  // the path given to exec
  char args[PROBE_EXEC_ARGS];
  __u32 loginuid;        // task->loginuid, set by pam_loginuid at login (0xffffffff: none, or no audit)
  __u32 sessionid;       // task->sessionid, the login's audit session (0xffffffff: none)
};

#define PROBE_ATTACH_BTF 1
#define PROBE_ATTACH_TRACEFS 2

#endif
