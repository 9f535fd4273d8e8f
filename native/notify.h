#ifndef SSH_OUTBOUND_NOTIFY_H
#define SSH_OUTBOUND_NOTIFY_H
#include <node_api.h>
// Adds notify() (sd_notify) to the sock_diag addon's exports: the addon that is always built.
void register_notify(napi_env env, napi_value exports);
// Adds blocking() (clears O_NONBLOCK on a descriptor; native/blocking.c) to the same addon.
void register_blocking(napi_env env, napi_value exports);
#endif
