// cgroup control files behind a small interface rooted at a path, so tests
// root it at a fixture directory (test/fixtures/cgroupfs/<scenario>/) and the
// agent at /sys/fs/cgroup. Paths given to read/write are relative to the root:
// "leak" on v2, "memory/leak" on v1 (one hierarchy per controller).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CgroupFs {
  read(cgroup: string, file: string): string | undefined;
  write(cgroup: string, file: string, value: string): void;
}

/** Kernel file names, written once (Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.rst). */
export const CG = {
  procs: "cgroup.procs",
  controllers: "cgroup.controllers",
  // v2
  cpuWeight: "cpu.weight",
  cpuMax: "cpu.max",
  memoryCurrent: "memory.current",
  memoryHigh: "memory.high",
  memoryMax: "memory.max",
  ioMax: "io.max",
  ioStat: "io.stat",
  freeze: "cgroup.freeze",
  // v1
  cpuShares: "cpu.shares",
  cfsQuotaUs: "cpu.cfs_quota_us",
  cfsPeriodUs: "cpu.cfs_period_us",
  memoryUsage: "memory.usage_in_bytes",
  memoryLimit: "memory.limit_in_bytes",
  oomControl: "memory.oom_control",
  blkioReadBps: "blkio.throttle.read_bps_device",
  blkioWriteBps: "blkio.throttle.write_bps_device",
  blkioServiceBytes: "blkio.throttle.io_service_bytes",
  freezerState: "freezer.state",
} as const;

/** v1 hierarchy directory per controller, as mounted on hybrid hosts. */
export const V1_DIR = { memory: "memory", cpu: "cpu", blkio: "blkio", freezer: "freezer" } as const;
export type V1Controller = keyof typeof V1_DIR;

export function createCgroupFs(root = "/sys/fs/cgroup"): CgroupFs & { readonly root: string } {
  const dir = (cgroup: string) => join(root, cgroup.replace(/^\/+/, ""));
  return {
    root,
    read(cgroup, file) {
      try {
        return readFileSync(join(dir(cgroup), file), "utf8");
      } catch {
        return undefined;
      }
    },
    write(cgroup, file, value) {
      // One write(2) per value: the kernel parses each write as a whole.
      writeFileSync(join(dir(cgroup), file), value);
    },
  };
}

export type CgroupLayout = "v2" | "v1";

/** v2 when the root is a cgroup2 mount; "v1" covers v1 and hybrid (memory in a v1 hierarchy). */
export function detectLayout(fs: CgroupFs): CgroupLayout {
  if (fs.read(V1_DIR.memory, CG.procs) !== undefined) return "v1";
  if (fs.read("", CG.controllers) !== undefined) return "v2";
  return "v1";
}

/** The directory (relative to the root) of a cgroup path in one controller's hierarchy. */
export function hierarchyDir(layout: CgroupLayout, controller: V1Controller, path: string): string {
  const p = path.replace(/^\/+/, "");
  if (layout === "v2") return p;
  return p ? `${V1_DIR[controller]}/${p}` : V1_DIR[controller];
}

export function readPids(fs: CgroupFs, dir: string): number[] {
  const text = fs.read(dir, CG.procs);
  if (!text) return [];
  return text
    .split("\n")
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** A file's value in a form that compares equal to what was written (the kernel reformats some). */
export function normalizeValue(file: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (file === CG.oomControl) {
    const m = /oom_kill_disable\s+(\d)/.exec(t);
    return m ? m[1] : t;
  }
  // A write of FROZEN reads back FREEZING until every task has stopped.
  if (file === CG.freezerState) return t === "FREEZING" ? "FROZEN" : t;
  return t.replace(/\s+/g, " ");
}
