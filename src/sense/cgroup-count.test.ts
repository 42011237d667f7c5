import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCgroupCounter } from "./cgroup-count.ts";

describe("createCgroupCounter", () => {
  test("v1: the memory line of /proc/cgroups, as the kernel writes it", () => {
    const c = createCgroupCounter(false, "/proc", "/sys/fs/cgroup");
    try {
      const m = /^memory\s+\d+\s+(\d+)/m.exec(readFileSync("/proc/cgroups", "latin1"));
      // This machine has a memory controller (hybrid v1): the count is the kernel's.
      expect(m).not.toBeNull();
      const got = c.count();
      const again = Number(/^memory\s+\d+\s+(\d+)/m.exec(readFileSync("/proc/cgroups", "latin1"))![1]);
      // Other processes may create cgroups between the two reads: the count is one of them or near.
      expect(Math.abs(got - again)).toBeLessThan(50);
      expect(got).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  test("fixtures: v1 with spaces or tabs and a memory_ lookalike, v2 with and without dying groups, absent files", () => {
    const dir = mkdtempSync(join(tmpdir(), "hosa-cgcount-"));
    try {
      writeFileSync(join(dir, "cgroups"), "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nmemory_x 9 999 1\nmemory   4   188   1\npids\t8\t60\t1\n");
      const v1 = createCgroupCounter(false, dir, dir);
      expect(v1.count()).toBe(188);
      writeFileSync(join(dir, "cgroups"), "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t7\t1\n");
      expect(v1.count()).toBe(7);
      v1.close();
      writeFileSync(join(dir, "cgroup.stat"), "nr_descendants 12\nnr_dying_descendants 3\n");
      const v2 = createCgroupCounter(true, dir, dir);
      expect(v2.count()).toBe(15);
      writeFileSync(join(dir, "cgroup.stat"), "nr_descendants 4\n");
      expect(v2.count()).toBe(4);
      v2.close();
      writeFileSync(join(dir, "cgroups"), "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t5\t1\n");
      const none = createCgroupCounter(false, dir, dir);
      expect(Number.isNaN(none.count())).toBe(true);
      none.close();
      const missing = createCgroupCounter(true, join(dir, "nope"), join(dir, "nope"));
      expect(Number.isNaN(missing.count())).toBe(true);
      missing.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
