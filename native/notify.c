// sd_notify(3) for the systemd unit (Type=notify, WatchdogSec): one datagram to $NOTIFY_SOCKET.
// Node's dgram module has no AF_UNIX datagrams, and libsystemd is not worth linking for one sendto.
//
//   notify(socketPath: string, message: string): void   throws with the errno name as `code`
// A path starting with "@" is an abstract socket name, as systemd gives it.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static napi_value Notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  char message[4096];
  size_t path_len = 0, msg_len = 0;
  if (argc != 2 ||
      napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &path_len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], message, sizeof message, &msg_len) != napi_ok || path_len == 0 ||
      path_len >= sizeof addr.sun_path - 1) {
    napi_throw_type_error(env, NULL, "notify(socketPath: string, message: string)");
    return NULL;
  }
  if (addr.sun_path[0] == '@') addr.sun_path[0] = 0;
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int err = 0;
  if (fd < 0) err = errno;
  else if (sendto(fd, message, msg_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, alen) < 0) err = errno;
  if (fd >= 0) close(fd);
  if (err) {
    const char *name = strerrorname_np(err);
    napi_throw_error(env, name ? name : "ENOTIFY", strerror(err));
    return NULL;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

void register_notify(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "notify", NAPI_AUTO_LENGTH, Notify, NULL, &fn);
  napi_set_named_property(env, exports, "notify", fn);
}
