// The cgroup v2 code paths on a fixture directory (this host is hybrid; the
// real pure-v2 run is the QEMU guest test). The fixture holds the files the
// kernel shows, in its format; the test writes on a temp copy. CgroupUsage
// here is made up (no kernel behind a fixture), time is data.
import { afterAll, expect, test } from "bun:test";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createCgroupFs } from "../../src/kernel/cgroupfs.ts";
import { detectCgroupLayout } from "../../src/kernel/cgroups.ts";
import { relaxValue } from "../../src/respond/cgroup-values.ts";
import { createResponder } from "../../src/respond/responder.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import type { Level } from "../../src/engine/types.ts";
import { actConfig, decision, tempDir } from "./helpers.ts";

const FIXTURE = join(import.meta.dir, "../fixtures/cgroupfs/respond-v2");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function copy(): string {
  const d = tempDir("v2fix");
  dirs.push(d);
  cpSync(FIXTURE, d, { recursive: true });
  return d;
}

const files = ["memory.high", "memory.max", "cpu.weight", "cpu.max", "io.max", "cgroup.freeze"];
/** Values as the kernel would show them: trimmed, and an io.max line of all "max" is no rule at all. */
function snapshot(root: string, cg: string): Record<string, string> {
  const show = (f: string, text: string) =>
    f === "io.max"
      ? text
          .split("\n")
          .filter((l) => l.trim() && !/^\S+ rbps=max wbps=max riops=max wiops=max$/.test(l.trim()))
          .join("\n")
      : text.trim();
  return Object.fromEntries(files.map((f) => [f, show(f, readFileSync(join(root, cg, f), "utf8"))]));
}

const usage = (t: number): CgroupUsage[] => [
  { path: "/workload", memoryBytes: 600e6 + t * 50e6, cpuUsageUs: t * 2.2e6, ioBytes: t * 40e6, pids: 4 },
  { path: "/workload/leak", memoryBytes: 500e6 + t * 50e6, cpuUsageUs: t * 0.1e6, ioBytes: 0, pids: 1 },
  { path: "/workload/cpuhog", memoryBytes: 50e6, cpuUsageUs: t * 2e6, ioBytes: 0, pids: 1 },
  { path: "/workload/disk", memoryBytes: 30e6, cpuUsageUs: t * 0.1e6, ioBytes: t * 40e6, pids: 1 },
  { path: "/workload/neighbour", memoryBytes: 20e6, cpuUsageUs: 0, ioBytes: 0, pids: 1 },
];

test("detectCgroupLayout() puts the memory hierarchy of a pure v2 root in v2", () => {
  expect(detectCgroupLayout(FIXTURE).memoryHierarchy).toBe("v2");
});

test("v2: Levels 2→3→4 write cpu.weight, memory.high, cpu.max, io.max, memory.max, cgroup.freeze on the contributors only, and relax back", () => {
  const root = copy();
  const fs = createCgroupFs(root);
  const cfg = actConfig(tempDir("v2state"), { relaxS: 30 });
  dirs.push(cfg.paths.stateDir);
  const r = createResponder(cfg, { fs });
  const before = Object.fromEntries(["workload", "workload/leak", "workload/cpuhog", "workload/disk", "workload/neighbour"].map((c) => [c, snapshot(root, c)]));
  const dominant = [
    { dim: "mem_used_ratio", share: 0.5 },
    { dim: "cpu_busy_ratio", share: 0.3 },
    { dim: "disk_io_bytes_per_s", share: 0.2 },
  ];
  const steps: [number, Level][] = [[0, 1], [1, 2], [2, 3], [3, 4]];
  let prev: Level = 0;
  for (const [t, lvl] of steps) {
    r.onDecision(decision(t, lvl, prev, dominant), usage(t));
    prev = lvl;
  }
  const leak = snapshot(root, "workload/leak");
  expect(leak["cpu.weight"]).toBe("25");
  // memory.high = usage + max(16 MiB, 2 %), page-aligned; memory.max above it.
  const high = Number(leak["memory.high"]);
  expect(high).toBeGreaterThan(524288000);
  expect(high % 4096).toBe(0);
  expect(Number(leak["memory.max"])).toBeGreaterThan(high);
  expect(leak["cgroup.freeze"]).toBe("1");
  const hog = snapshot(root, "workload/cpuhog");
  // 2 CPUs of use over the last second → quota of half of that.
  expect(hog["cpu.max"]).toBe("100000 100000");
  const disk = snapshot(root, "workload/disk");
  expect(disk["io.max"]).toBe("8:0 rbps=20000000 wbps=20000000 riops=max wiops=max");
  // The parent grew only because of its children; the neighbour did not grow.
  expect(snapshot(root, "workload")).toEqual(before.workload);
  expect(snapshot(root, "workload/neighbour")).toEqual(before["workload/neighbour"]);
  // Down again, time as data: 4→3 thaws at once, the rest goes in steps over relax_s.
  const down: [number, Level][] = [[10, 3], [20, 2], [30, 1], [40, 0]];
  for (const [t, lvl] of down) {
    r.onDecision(decision(t, lvl, prev, dominant), usage(t));
    prev = lvl;
  }
  expect(snapshot(root, "workload/leak")["cgroup.freeze"]).toBe("0");
  const midway = Number(snapshot(root, "workload/leak")["cpu.weight"]);
  expect(midway).toBeGreaterThan(25);
  expect(midway).toBeLessThan(100);
  for (let t = 41; t <= 80; t += 1) r.onDecision(decision(t, 0, 0, dominant), []);
  for (const c of Object.keys(before)) expect(snapshot(root, c)).toEqual(before[c]);
  expect(r.inForce()).toEqual([]);
});

test("detection-only (the default) writes nothing and says what it would do", () => {
  const root = copy();
  const fs = createCgroupFs(root);
  const cfg = actConfig(tempDir("v2detect"), { mode: "detect" });
  dirs.push(cfg.paths.stateDir);
  const r = createResponder(cfg, { fs });
  const all = () => ["workload", "workload/leak", "workload/cpuhog", "workload/disk"].map((c) => snapshot(root, c));
  const before = all();
  const records = [];
  let prev: Level = 0;
  for (const [t, lvl] of [[0, 1], [1, 2], [2, 3], [3, 4], [4, 3], [50, 2], [100, 1], [150, 0]] as [number, Level][]) {
    records.push(...r.onDecision(decision(t, lvl, prev), usage(t)));
    prev = lvl;
  }
  expect(all()).toEqual(before);
  expect(records.length).toBeGreaterThan(0);
  expect(records.filter((x) => x.outcome.startsWith("would")).length).toBe(records.filter((x) => !x.outcome.startsWith("skipped")).length);
  expect(records.some((x) => x.outcome === "would apply (detection-only)" && x.action.startsWith("memory.high"))).toBe(true);
  // Nothing journaled either.
  expect(() => readFileSync(`${cfg.paths.stateDir}/actions.journal`)).toThrow();
});

test("relaxValue() steps linearly between numbers and grows toward max", () => {
  expect(relaxValue("cpu.weight", "25", "100", 1, 3)).toBe("50");
  expect(relaxValue("cpu.weight", "25", "100", 3, 3)).toBe("100");
  expect(relaxValue("cpu.max", "50000 100000", "max 100000", 1, 3)).toBe("100000 100000");
  expect(relaxValue("memory.high", "409600", "max", 2, 3)).toBe("1638400");
  expect(relaxValue("cgroup.freeze", "1", "0", 1, 3)).toBe("1");
});
