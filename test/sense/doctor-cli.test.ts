// `hosa doctor` through the built executable: stdout, stderr and exit code
// together. HOSA_EXE points at another build (bun build --compile ... --outfile X).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hosaExe, runHosa, tempDir } from "../harness.ts";

const isRoot = process.getuid?.() === 0;
const hasBtf = existsSync("/sys/kernel/btf/vmlinux");

function mountedLayout(): string {
  const mounts = readFileSync("/proc/self/mountinfo", "latin1");
  const v1 = / - cgroup /.test(mounts);
  const v2 = / - cgroup2 /.test(mounts);
  return v1 && v2 ? "hybrid" : v1 ? "v1" : v2 ? "v2" : "none";
}

describe("hosa doctor", () => {
  test("--json: one object with node facts, ebpf, cgroups, xdp, dimension sources; exit 0, nothing on stderr", () => {
    const r = runHosa(["doctor", "--json"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout.trim().split("\n").length).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(["node", "ebpf", "btf", "psi", "cgroups", "xdp", "dimensions", "fallbackNotice", "environment", "checks"]);
    expect(j.node.cores).toBeGreaterThan(0);
    expect(j.node.memoryBytes).toBeGreaterThan(0);
    expect(j.node.kernelRelease).toBe(readFileSync("/proc/sys/kernel/osrelease", "latin1").trim());
    expect(j.node.cgroupVersion).toBe(mountedLayout());
    expect(j.cgroups.version).toBe(mountedLayout());
    expect(j.btf.present).toBe(hasBtf);
    expect(j.dimensions.length).toBe(18);
    expect(j.environment.class).toBe(j.node.environmentClass);
    expect(j.checks.map((c: { name: string }) => c.name)).toEqual(["eBPF probes", "BTF", "capabilities", "cgroups", "PSI", "XDP", "dimensions", "environment"]);
    if (isRoot && hasBtf) {
      expect(j.ebpf.loaded).toBe(true);
      expect(j.ebpf.error).toBeUndefined();
      // The default [sense] probes = "lean": nothing on a context switch, run-queue totals by iterator.
      expect(j.ebpf.programs).toContain("runq_totals");
      expect(j.ebpf.programs).not.toContain("sched_switch");
      expect(j.fallbackNotice).toBe("");
      expect(j.dimensions.find((d: { dim: string }) => d.dim === "runq_latency_us").source).toBe("ebpf");
      expect(j.xdp).toEqual({ supported: true, programLoads: true, detail: expect.stringContaining("program verified") });
      expect(j.cgroups.controllers.find((c: { controller: string }) => c.controller.startsWith("memory")).writable).toBe(true);
    }
  });

  test("human output: the facts table, what will work and each dimension's source; plain when not a TTY", () => {
    const r = runHosa(["doctor"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain("This node");
    expect(r.stdout).toContain("What will work here");
    expect(r.stdout).toMatch(/^environment class +(bare-metal|cloud-vm|kubernetes|edge-physical|edge-remote|airgap)$/m);
    expect(r.stdout).toMatch(/^eBPF probes +(ok|no) +/m);
    expect(r.stdout).toMatch(/^forks_per_s +(ebpf|proc) +/m);
    expect(r.stdout).not.toContain("\x1b["); // no colour codes into a pipe
    expect(r.stdout).not.toContain("┌");
  });

  test.skipIf(!isRoot)("without capabilities (uid 65534): still inspects, says why eBPF, cgroups and XDP will not work", () => {
    const p = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", hosaExe(), "doctor", "--json"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/", NO_COLOR: "1" },
    });
    const out = { code: p.exitCode, stderr: p.stderr.toString() };
    expect(out).toEqual({ code: 0, stderr: "" });
    const j = JSON.parse(p.stdout.toString());
    expect(j.ebpf.loaded).toBe(false);
    expect(j.ebpf.error).toContain("CAP_BPF");
    expect(j.node.capabilities).toEqual({ effectiveHex: "0000000000000000", bpf: false, perfmon: false, sysAdmin: false, netAdmin: false });
    expect(j.fallbackNotice).toStartWith("hosa: eBPF unavailable (");
    const src = Object.fromEntries(j.dimensions.map((d: { dim: string; source: string }) => [d.dim, d.source]));
    expect(src.forks_per_s).toBe("proc");
    expect(src.runq_latency_us).toBe("unavailable");
    expect(j.xdp.programLoads).toBe(false);
    expect(j.cgroups.controllers.every((c: { writable: boolean; reason: string }) => !c.writable && c.reason === "permission denied")).toBe(true);
    expect(j.checks.find((c: { name: string }) => c.name === "eBPF probes").ok).toBe(false);
  });

  test("a bad config is one line on stderr and exit 3; a bad flag exit 2; --help exit 0", () => {
    const { dir, cleanup } = tempDir("hosa-doctor-");
    try {
      const bad = `${dir}/hosa.toml`;
      writeFileSync(bad, "[sense]\ndimensions = [\"cpu_busy_ratio\", \"cpu_bussy\"]\n");
      const r = runHosa(["-c", bad, "doctor", "--json"]);
      expect({ code: r.code, stdout: r.stdout, lines: r.stderr.trim().split("\n").length }).toEqual({ code: 3, stdout: "", lines: 1 });
      expect(r.stderr).toStartWith('hosa: cannot select dimensions: unknown dimension "cpu_bussy"');
      const missing = runHosa(["-c", `${dir}/nope.toml`, "doctor"]);
      expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 3, stderr: `hosa: cannot load ${dir}/nope.toml: no such file\n` });
    } finally {
      cleanup();
    }
    const flag = runHosa(["doctor", "--jsn"]);
    expect({ code: flag.code, stdout: flag.stdout, stderr: flag.stderr }).toEqual({ code: 2, stdout: "", stderr: "hosa: unknown option '--jsn' (Did you mean --json?)\n" });
    const help = runHosa(["doctor", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--json");
    expect(help.stdout).toContain("Exit codes");
    expect(help.stderr).toBe("");
  });

  test("a config selecting dimensions is reflected in the dimension sources", () => {
    const { dir, cleanup } = tempDir("hosa-doctor-");
    try {
      writeFileSync(`${dir}/hosa.toml`, '[sense]\ndimensions = ["forks_per_s", "mem_used_ratio"]\nebpf = "off"\n');
      const r = runHosa(["-c", `${dir}/hosa.toml`, "doctor", "--json"]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      const j = JSON.parse(r.stdout);
      expect(j.dimensions).toEqual([
        { dim: "forks_per_s", source: "proc", detail: "/proc/stat processes" },
        { dim: "mem_used_ratio", source: "proc", detail: "/proc/meminfo" },
      ]);
      expect(j.ebpf.loaded).toBe(false);
      expect(j.fallbackNotice).toBe('hosa: eBPF unavailable (off in the configuration ([sense] ebpf = "off")): forks_per_s come from /proc');
    } finally {
      cleanup();
    }
  });
});
