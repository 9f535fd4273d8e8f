// One system-call helper for the procfs source: sends a prepared NETLINK_SOCK_DIAG request and returns
// every reply message, concatenated, up to NLMSG_DONE. Building the request and parsing the replies is
// done in TypeScript (src/sources/sock-diag.ts), where it can be tested on captured bytes.
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "sock_diag %s: %s", what, strerror(err));
  napi_throw_error(env, err == EPERM || err == EACCES ? "EPERM" : "ESOCKDIAG", msg);
  return NULL;
}

// dump(request: Buffer): Buffer (a dump's replies up to NLMSG_DONE, or a lookup's one reply)
static napi_value Dump(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, NULL, "dump(request: Buffer)");
    return NULL;
  }
  void *req;
  size_t req_len;
  if (napi_get_buffer_info(env, argv[0], &req, &req_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "dump(request: Buffer)");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return throw_errno(env, "socket", errno);
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
  while (!done && out) {
    if (cap - len < CHUNK) {
      char *grown = realloc(out, cap * 2);
      if (!grown) break;
      out = grown;
      cap *= 2;
    }
    ssize_t n = recv(fd, out + len, cap - len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      free(out);
      close(fd);
      return throw_errno(env, "recv", err);
    }
    if (n == 0) break;
    // Walk this datagram's messages: stop at DONE or ERROR (both are kept for the parser to read).
    int left = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)(out + len); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = 1;
    }
    len += (size_t)n;
    if (!dump) done = 1;
  }
  close(fd);
  if (!out) {
    napi_throw_error(env, "ENOMEM", "sock_diag: out of memory");
    return NULL;
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
  return exports;
}
