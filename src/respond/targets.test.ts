// Targeting and the safelist: dimension names to resources, growth ranking
// with the parent-of-a-leak rule, and what is never touched. Process facts
// come from a fixture /proc (a directory in the kernel's format).
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCgroupFs } from "../kernel/cgroupfs.ts";
import { detectCgroupLayout } from "../kernel/cgroups.ts";
import { dominantResources, resourceOfDim, safelistReason, selectTargets, type SafelistContext } from "./targets.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { decision, tempDir } from "../../test/respond/helpers.ts";

const FIXTURE = join(import.meta.dir, "../../test/fixtures/cgroupfs/respond-v2");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A /proc with the given processes: comm, flags (PF_KTHREAD = 0x00200000) and a v2 cgroup line. */
function procFixture(procs: { pid: number; comm: string; flags?: number; cgroup: string }[]): string {
  const root = tempDir("proc");
  dirs.push(root);
  for (const p of procs) {
    mkdirSync(join(root, String(p.pid)));
    writeFileSync(join(root, String(p.pid), "comm"), `${p.comm}\n`);
    writeFileSync(join(root, String(p.pid), "cgroup"), `0::${p.cgroup}\n`);
    writeFileSync(join(root, String(p.pid), "stat"), `${p.pid} (${p.comm}) S 1 ${p.pid} ${p.pid} 0 -1 ${p.flags ?? 4194560} 100 0 0 0 5 3 0 0 20 0 1 0 12345 1000000 250 18446744073709551615\n`);
  }
  return root;
}

function context(procs: Parameters<typeof procFixture>[0], over: Partial<SafelistContext> = {}): SafelistContext {
  const cg = tempDir("cgsafe");
  dirs.push(cg);
  cpSync(FIXTURE, cg, { recursive: true });
  for (const p of procs) {
    const f = join(cg, p.cgroup, "cgroup.procs");
    mkdirSync(join(cg, p.cgroup), { recursive: true });
    writeFileSync(f, `${p.pid}\n`, { flag: "a" });
  }
  return { fs: createCgroupFs(cg), layout: detectCgroupLayout(cg), procRoot: procFixture(procs), selfPid: 999, safelist: [], scope: "", ...over };
}

const PROCS = [
  { pid: 1, comm: "systemd", cgroup: "/init.scope" },
  { pid: 999, comm: "hosa", cgroup: "/system.slice/hosa.service" },
  { pid: 2, comm: "kthreadd", flags: 0x00208040, cgroup: "/kthreads" },
  { pid: 700, comm: "sshd", cgroup: "/system.slice/ssh.service" },
  { pid: 710, comm: "containerd-shim", cgroup: "/system.slice/containerd.service" },
  { pid: 800, comm: "postgres", cgroup: "/system.slice/postgres.service" },
  { pid: 900, comm: "leaky", cgroup: "/workload/leak" },
];

test("resourceOfDim() reads dimension names by their words, not substrings", () => {
  expect(resourceOfDim("mem_used_ratio")).toBe("memory");
  expect(resourceOfDim("psi_mem_some")).toBe("memory");
  expect(resourceOfDim("page_faults_per_s")).toBe("memory");
  expect(resourceOfDim("cpu_busy_ratio")).toBe("cpu");
  expect(resourceOfDim("forks_per_s")).toBe("cpu");
  expect(resourceOfDim("psi_io_some")).toBe("io");
  expect(resourceOfDim("disk_latency_ms")).toBe("io");
  expect(resourceOfDim("net_rx_bytes_per_s")).toBeNull();
  expect(dominantResources(decision(0, 3, 2, [{ dim: "mem_used_ratio", share: 0.6 }, { dim: "net_rx_bytes_per_s", share: 0.3 }, { dim: "cpu_busy_ratio", share: 0.1 }]))).toEqual(["memory"]);
});

test("safelistReason(): root, hosa, PID 1, kernel threads, sshd/containerd, operator entries, scope", () => {
  const ctx = context(PROCS);
  expect(safelistReason("/", ctx)).toBe("root cgroup");
  expect(safelistReason("/system.slice/hosa.service", ctx)).toBe("hosa's own cgroup");
  expect(safelistReason("/system.slice", ctx)).toBe("hosa's own cgroup");
  expect(safelistReason("/init.scope", ctx)).toBe("PID 1's cgroup");
  expect(safelistReason("/kthreads", ctx)).toBe("kernel thread 2");
  expect(safelistReason("/system.slice/ssh.service", { ...ctx, selfPid: 1234 })).toBe("protected process sshd (700)");
  expect(safelistReason("/system.slice/containerd.service", { ...ctx, selfPid: 1234 })).toBe("protected process containerd-shim (710)");
  expect(safelistReason("/system.slice/postgres.service", { ...ctx, selfPid: 1234 })).toBeNull();
  expect(safelistReason("/system.slice/postgres.service", { ...ctx, selfPid: 1234, safelist: ["postgres"] })).toBe("safelisted process postgres (800)");
  expect(safelistReason("/workload/leak", { ...ctx, safelist: ["/workload"] })).toBe("safelisted in hosa.toml (/workload)");
  expect(safelistReason("/workload/leak", { ...ctx, scope: "/batch" })).toBe("outside respond.cgroup_scope /batch");
  expect(safelistReason("/workload/leak", ctx)).toBeNull();
});

test("selectTargets(): the cgroup that grew most in the dominant resource, not its parent, never a safelisted one", () => {
  const ctx = context(PROCS, { selfPid: 1234 });
  const u = (path: string, mem: number, cpu = 0): CgroupUsage => ({ path, memoryBytes: mem, cpuUsageUs: cpu, ioBytes: 0, pids: 1 });
  const prev = [u("/workload", 1000e6), u("/workload/leak", 500e6), u("/workload/small", 100e6), u("/system.slice", 2000e6), u("/system.slice/ssh.service", 100e6)];
  const cur = [u("/workload", 1110e6), u("/workload/leak", 600e6), u("/workload/small", 110e6), u("/system.slice", 2200e6), u("/system.slice/ssh.service", 300e6)];
  const sel = selectTargets(decision(2, 3, 2), prev, cur, 2, ctx);
  // ssh grew most (200 MB) but is protected; the leak (100 MB) is next; its parent is explained by it.
  expect(sel.targets.map((t) => t.path)).toEqual(["/workload/leak"]);
  expect(sel.targets[0].ratePerS).toBe(50e6);
  expect(sel.skipped).toContainEqual({ path: "/system.slice/ssh.service", reason: "protected process sshd (700)" });
  expect(sel.targets.some((t) => t.path === "/workload" || t.path === "/system.slice")).toBe(false);
  // Nothing grew: nobody is targeted.
  expect(selectTargets(decision(2, 3, 2), cur, cur, 2, ctx).targets).toEqual([]);
});
