// Issue 16: dist/hosa-arm64, cross-built on this x86-64 machine, runs on an
// arm64 kernel (Debian's linux-image-arm64 under qemu-system-aarch64, TCG) on
// pure cgroup v2 with nothing but busybox and arm64 glibc: `hosa doctor`
// reports eBPF and BTF ready and the CO-RE probes load and attach there.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { bootGuest, guestSkipReason, type GuestRun, REPO_ROOT, tail } from "./boot.ts";

const skip = guestSkipReason("arm64");
if (skip) console.warn(`skip: arm64 guest tests: ${skip}`);

function decodeJson(run: GuestRun, name: string): Record<string, unknown> {
  const b64 = run.results.get(name);
  if (!b64) throw new Error(`guest printed no ${name}\n${tail(run)}`);
  return JSON.parse(Buffer.from(b64, "base64").toString("utf8")) as Record<string, unknown>;
}

describe.skipIf(skip !== undefined)("dist/hosa-arm64 in an arm64 guest", () => {
  test("runs on aarch64 with only busybox and glibc, reports cgroup v2, BTF and eBPF ready, and loads the probes", async () => {
    const run = await bootGuest(join(REPO_ROOT, "test/guest/doctor.guest.sh"), [], { timeoutS: 240, arch: "arm64", mem: "1G" });
    expect(run.exitCode, tail(run)).toBe(0);
    expect(run.results.get("machine")).toBe("aarch64");
    expect(run.results.get("cgroup_fs")).toBe("cgroup2");
    expect(run.results.get("forbidden_files")?.trim()).toBe("");
    const libs = (run.results.get("shared_libraries") ?? "").trim().split(/\s+/);
    expect(libs.length).toBeGreaterThan(0);
    for (const lib of libs) expect(lib).toMatch(/\/aarch64-linux-gnu\/(libc|libm|libpthread|libdl|ld-linux-aarch64)\.so|^\/lib\/ld-linux-aarch64\.so\.1$/);
    expect(run.results.get("version_exit")).toBe("0");

    const stderr = Buffer.from(run.results.get("doctor_stderr_b64") ?? "", "base64").toString("utf8");
    expect(run.results.get("doctor_exit"), stderr).toBe("0");
    const doctor = decodeJson(run, "doctor_json_b64");
    const ebpf = doctor.ebpf as { loaded?: boolean; programs?: string[]; error?: string; cgroupHierarchy?: string };
    expect(ebpf.error).toBeUndefined();
    expect(ebpf.loaded).toBe(true);
    // The scheduler, fork, block, TCP and OOM programs attach on arm64; the
    // allocation probe is sys_enter before Linux 6.11 (Debian 12 runs 6.1).
    expect(ebpf.programs).toEqual(expect.arrayContaining(["sched_wakeup", "sched_process_fork", "block_rq_complete", "inet_sock_set_state", "mark_victim"]));
    expect(ebpf.programs!.some((p) => p === "sys_enter" || p === "mmap_lock_acquire_returned")).toBe(true);
    // x86's exception tracepoints do not exist on arm64: page faults come from /proc/vmstat.
    expect(ebpf.programs).not.toContain("page_fault_user");
    const sources = doctor.dimensions as { dim: string; source: string }[];
    expect(sources.find((s) => s.dim === "page_faults_per_s")?.source).toBe("proc");
    expect(sources.find((s) => s.dim === "runq_latency_us")?.source).toBe("ebpf");
    expect(doctor.fallbackNotice).toBe("");
    expect(ebpf.cgroupHierarchy).toBe("v2");
    expect((doctor.btf as { present?: boolean }).present).toBe(true);
    const cgroups = doctor.cgroups as { version?: string; v2Controllers?: string[] };
    expect(cgroups.version).toBe("v2");
    expect(cgroups.v2Controllers).toEqual(expect.arrayContaining(["memory", "cpu"]));
    const checks = doctor.checks as { name: string; ok: boolean }[];
    for (const name of ["eBPF probes", "BTF", "cgroups", "PSI"]) expect(checks.find((c) => c.name === name)?.ok, name).toBe(true);
    console.log(`arm64 guest doctor: ${ebpf.programs!.length} programs attached; guest wall ${(run.wallMs / 1000).toFixed(0)} s`);
  }, 300_000);
});
