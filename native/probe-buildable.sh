#!/bin/sh
# Prints 1 when the eBPF probe can be built here (clang with the BPF target, libbpf's headers and
# library, the kernel's UAPI headers), else 0 with the reason on stderr. binding.gyp builds the probe
# addon only then, so that a machine without them still gets the sock_diag addon (procfs source).
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
missing=""
command -v clang >/dev/null 2>&1 || missing="$missing clang"
[ -f /usr/include/bpf/libbpf.h ] || missing="$missing libbpf-dev"
[ -f /usr/include/linux/bpf.h ] || missing="$missing linux-libc-dev"
[ -d "/usr/include/$arch/asm" ] || [ -d /usr/include/asm ] || missing="$missing linux-libc-dev($arch)"
if [ -n "$missing" ]; then
  echo "ssh-outbound-logger: the eBPF probe is not built (missing:$missing); the eBPF source will not be available" >&2
  echo 0
else
  echo 1
fi
