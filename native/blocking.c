// Clears O_NONBLOCK on a descriptor the daemon writes synchronously (its standard output). Node makes a
// pipe non-blocking as soon as anything touches process.stdout (a loader such as tsx does), and the
// sink's synchronous writes then meet EAGAIN whenever the reader is a page behind: sonic-boom sleeps
// 100 ms and tries again, with the whole daemon stopped meanwhile. A blocking write waits only as
// long as the reader lags. Node has no API for the flag.
//
//   blocking(fd: number): boolean   true if the flag was set (and is now cleared); throws with the
//                                   errno name as `code`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <string.h>

#include "notify.h"

static napi_value Blocking(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "blocking(fd: number)");
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  int err = 0;
  if (flags < 0) err = errno;
  else if ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) err = errno;
  if (err) {
    const char *name = strerrorname_np(err);
    napi_throw_error(env, name ? name : "EFCNTL", strerror(err));
    return NULL;
  }
  napi_value out;
  napi_get_boolean(env, (flags & O_NONBLOCK) != 0, &out);
  return out;
}

void register_blocking(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "blocking", NAPI_AUTO_LENGTH, Blocking, NULL, &fn);
  napi_set_named_property(env, exports, "blocking", fn);
}
