{
  "variables": {
    "probe_buildable": "<!(sh native/probe-buildable.sh)",
    "multiarch": "<!(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
  },
  "targets": [
    {
      "target_name": "sock_diag",
      "sources": ["native/sock_diag.c", "native/notify.c", "native/blocking.c"],
      "include_dirs": ["native"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"]
    }
  ],
  "conditions": [
    [
      "probe_buildable==1",
      {
        "targets": [
          {
            "target_name": "probe",
            "sources": ["native/probe.c", "native/probe-ring.c", "native/probe-maps.c", "native/probe-pin.c", "native/probe-protocol.c"],
            "include_dirs": ["native"],
            "cflags": [
              "-O2",
              "-Wall",
              "-Wextra",
              "-fstack-protector-strong",
              "-D_FORTIFY_SOURCE=2",
              "-Wa,-I<(INTERMEDIATE_DIR)"
            ],
            "libraries": ["-lbpf"],
            "actions": [
              {
                "action_name": "compile_bpf_program",
                "inputs": ["native/probe.bpf.c", "native/probe-flood.bpf.h", "native/probe-protocol.bpf.h", "native/probe-sessions.bpf.h", "native/probe-exec.bpf.h", "native/probe.h"],
                "outputs": ["<(INTERMEDIATE_DIR)/probe.bpf.o"],
                "action": [
                  "clang",
                  "-g",
                  "-O2",
                  "-target",
                  "bpf",
                  "-I/usr/include/<(multiarch)",
                  "-Inative",
                  "-DSOL_ARCH_<(target_arch)",
                  "-Wall",
                  "-c",
                  "native/probe.bpf.c",
                  "-o",
                  "<(INTERMEDIATE_DIR)/probe.bpf.o"
                ]
              }
            ]
          }
        ]
      }
    ]
  ]
}
