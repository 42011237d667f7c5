// Issue 4's proof: dist/hosa runs, and loads its eBPF probes, on a node with
// no libbpf, libelf, zlib, clang or bun, here a QEMU guest on pure cgroup v2
// whose initramfs holds busybox, the executable and the glibc files `ldd` names.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { bootGuest, guestSkipReason, type GuestRun, REPO_ROOT, tail } from "./boot.ts";

const skip = guestSkipReason();
if (skip) console.warn(`skip: guest tests: ${skip}`);

function decodeJson(run: GuestRun, name: string): Record<string, unknown> {
  const b64 = run.results.get(name);
  if (!b64) throw new Error(`guest printed no ${name}\n${tail(run)}`);
  const text = Buffer.from(b64, "base64").toString("utf8");
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`guest's ${name} is not JSON: ${text.slice(0, 500)}`);
  }
}

describe.skipIf(skip !== undefined)("dist/hosa in a pure cgroup v2 guest", () => {
  test("runs with no libbpf, libelf, clang or bun, reports cgroup v2 and BTF, and loads the eBPF probes", async () => {
    const run = await bootGuest(join(REPO_ROOT, "test/guest/doctor.guest.sh"), [], { timeoutS: 150 });
    expect(run.exitCode, tail(run)).toBe(0);

    expect(run.results.get("cgroup_fs")).toBe("cgroup2");
    expect(run.results.get("forbidden_files")?.trim()).toBe("");
    // glibc and its loader only: what `ldd dist/hosa` named.
    const libs = (run.results.get("shared_libraries") ?? "").trim().split(/\s+/);
    expect(libs.length).toBeGreaterThan(0);
    for (const lib of libs) expect(lib).toMatch(/\/(libc|libm|libpthread|libdl|ld-linux-x86-64)\.so/);

    expect(run.results.get("version_exit")).toBe("0");
    expect(run.results.get("version")).toMatch(/^\d+\.\d+\.\d+/);

    const stderr = Buffer.from(run.results.get("doctor_stderr_b64") ?? "", "base64").toString("utf8");
    expect(run.results.get("doctor_exit"), stderr).toBe("0");
    const doctor = decodeJson(run, "doctor_json_b64");
    const ebpf = doctor.ebpf as { loaded?: boolean; programs?: string[]; error?: string } | undefined;
    expect(ebpf?.error).toBeUndefined();
    expect(ebpf?.loaded).toBe(true);
    expect(ebpf?.programs?.length ?? 0).toBeGreaterThan(0);
    // src/cli/commands/doctor.ts DoctorReport.
    const cgroups = doctor.cgroups as { version?: string; v2Controllers?: string[]; v1Controllers?: string[] };
    expect(cgroups.version).toBe("v2");
    expect(cgroups.v2Controllers).toEqual(expect.arrayContaining(["memory", "cpu"]));
    expect(cgroups.v1Controllers).toEqual([]);
    expect((doctor.btf as { present?: boolean }).present).toBe(true);
    expect((doctor.ebpf as { cgroupHierarchy?: string }).cgroupHierarchy).toBe("v2");
  }, 200_000);
});
