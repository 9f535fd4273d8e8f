// One system-call helper for the procfs source: sends a prepared NETLINK_SOCK_DIAG request and returns
// every reply message, concatenated, up to NLMSG_DONE. Building the request and parsing the replies is
// done in TypeScript (src/sources/sock-diag.ts), where it can be tested on captured bytes.
//
// Never a partial answer: a reply that was cut (MSG_TRUNC), that ends before NLMSG_DONE, that does not
// come within the receive timeout, or that cannot be held in memory is an error with its errno name as
// the error's code. The caller must not read "socket gone" into a dump it did not get whole.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "notify.h"

#define CHUNK (256 * 1024)
#define RECV_TIMEOUT_MS 2000

static napi_value throw_code(napi_env env, const char *code, const char *what, const char *detail) {
  char msg[200];
  snprintf(msg, sizeof msg, "sock_diag %s: %s", what, detail);
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  const char *name = strerrorname_np(err);
  return throw_code(env, name ? name : "ESOCKDIAG", what, strerror(err));
}

// dump(request: Buffer, maxRecv?: number): Buffer (a dump's replies up to NLMSG_DONE, or a lookup's
// one reply). maxRecv, when given, caps each recv() (used by the fault tests to make the kernel cut
// datagrams for real).
static napi_value Dump(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "dump(request: Buffer, maxRecv?: number)");
    return NULL;
  }
  void *req;
  size_t req_len;
  if (napi_get_buffer_info(env, argv[0], &req, &req_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "dump(request: Buffer, maxRecv?: number)");
    return NULL;
  }
  uint32_t max_recv = 0;
  if (argc > 1) napi_get_value_uint32(env, argv[1], &max_recv);
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return throw_errno(env, "socket", errno);
  // A reply that never comes must not block the event loop (and with it SIGTERM) for ever.
  struct timeval tv = {.tv_sec = RECV_TIMEOUT_MS / 1000, .tv_usec = (RECV_TIMEOUT_MS % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, req, req_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "send", err);
  }
  // A dump ends with NLMSG_DONE; a lookup of one socket is answered by one message (or an error).
  int dump = req_len >= sizeof(struct nlmsghdr) && (((struct nlmsghdr *)req)->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  size_t cap = CHUNK, len = 0;
  char *out = malloc(cap);
  int done = 0;
  const char *fail_code = NULL, *fail_what = NULL;
  int fail_errno = 0;
  while (!done) {
    if (!out) {
      fail_code = "ENOMEM";
      fail_what = "out of memory for the reply";
      break;
    }
    if (cap - len < CHUNK) {
      char *grown = realloc(out, cap * 2);
      if (!grown) {
        fail_code = "ENOMEM";
        fail_what = "out of memory for the reply";
        break;
      }
      out = grown;
      cap *= 2;
    }
    size_t room = cap - len;
    if (max_recv > 0 && max_recv < room) room = max_recv;
    struct iovec iov = {.iov_base = out + len, .iov_len = room};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(fd, &mh, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
      break;
    }
    if (mh.msg_flags & MSG_TRUNC) {
      fail_code = "ETRUNC";
      fail_what = "a reply datagram was cut (MSG_TRUNC)";
      break;
    }
    if (n == 0) {
      fail_code = "ENODONE";
      fail_what = "the reply ended before NLMSG_DONE";
      break;
    }
    // Walk this datagram's messages: stop at DONE or ERROR (both are kept for the parser to read).
    int left = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)(out + len); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = 1;
    }
    len += (size_t)n;
    if (!dump) done = 1;
  }
  close(fd);
  if (!done) {
    free(out);
    if (fail_errno) return throw_errno(env, "recv", fail_errno);
    return throw_code(env, fail_code, "recv", fail_what);
  }
  napi_value result;
  void *data;
  napi_status st = napi_create_buffer_copy(env, len, out, &data, &result);
  free(out);
  if (st != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "dump", NAPI_AUTO_LENGTH, Dump, NULL, &fn);
  napi_set_named_property(env, exports, "dump", fn);
  register_notify(env, exports);
  register_blocking(env, exports);
  return exports;
}
