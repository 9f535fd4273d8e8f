import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { pinnedProbe, unloadProbe } from "../../src/sources/ebpf/probe.ts";
import { scratchDir } from "./scratch.ts";

/**
 * A bpffs of the test's own (each mount of bpffs is a new, empty instance), for a daemon to pin its
 * probe in: `pin` is the directory to give as --pin. When the test ends, whatever is pinned there is
 * unloaded and the bpffs unmounted: no program or map stays in the kernel.
 */
export function privateBpffs(t: TestContext): { mount: string; pin: string } {
  const mount = join(scratchDir("sol-bpffs-"), "bpf");
  mkdirSync(mount);
  execFileSync("mount", ["-t", "bpf", "bpf", mount]);
  const pin = join(mount, "probe");
  t.after(() => {
    try {
      if (pinnedProbe(pin)) unloadProbe(pin);
    } finally {
      execFileSync("umount", [mount]);
    }
  });
  return { mount, pin };
}

/** The ids of our connection programs loaded in the kernel now (bpftool lists them by name). */
export function ourPrograms(): number[] {
  const list = JSON.parse(execFileSync("bpftool", ["-j", "prog", "show"], { encoding: "utf8" })) as {
    id: number;
    name?: string;
  }[];
  return list.filter((p) => p.name === "on_state_btf" || p.name === "on_state").map((p) => p.id);
}
