import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import {
  controllerAccess,
  cgroupId,
  detectCgroupLayout,
  listCgroups,
  parseBlkioServiceBytes,
  parseIoStatBytes,
  readCgroupUsage,
} from "./cgroups.ts";
import { parseProcCgroup } from "./proc.ts";

const FIX = `${import.meta.dir}/../../test/fixtures/cgroupfs`;

describe("cgroup layout on fixtures", () => {
  test("detectCgroupLayout() recognises pure v2 by the root's cgroup.controllers", () => {
    const l = detectCgroupLayout(`${FIX}/v2`);
    expect(l.version).toBe("v2");
    expect(l.attributionRoot).toBe(`${FIX}/v2`);
    expect(l.v2Controllers).toEqual(["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]);
    expect(l.v1Controllers).toEqual([]);
  });

  test("detectCgroupLayout() tells v1 from hybrid by the unified mount", () => {
    const v1 = detectCgroupLayout(`${FIX}/v1`);
    expect(v1.version).toBe("v1");
    expect(v1.unifiedRoot).toBe("");
    expect(v1.attributionRoot).toBe(`${FIX}/v1/memory`);
    const hy = detectCgroupLayout(`${FIX}/hybrid`);
    expect(hy.version).toBe("hybrid");
    expect(hy.unifiedRoot).toBe(`${FIX}/hybrid/unified`);
    expect(hy.v1Controllers).toContain("memory");
    expect(hy.v1Controllers).toContain("cpuacct");
    expect(detectCgroupLayout(`${FIX}/does-not-exist`).version).toBe("none");
  });

  test("listCgroups() walks breadth-first with relative paths and honours its bounds", () => {
    const l = detectCgroupLayout(`${FIX}/v2`);
    expect(listCgroups(l)).toEqual(["/system.slice", "/user.slice", "/system.slice/nginx.service"]);
    expect(listCgroups(l, { maxDepth: 1 })).toEqual(["/system.slice", "/user.slice"]);
    expect(listCgroups(l, { maxCount: 1 })).toEqual(["/system.slice"]);
    const hy = detectCgroupLayout(`${FIX}/hybrid`);
    expect(listCgroups(hy)).toEqual(["/docker", "/system.slice", "/docker/abc123", "/system.slice/postgres.service"]);
  });

  test("readCgroupUsage() on v2: memory.current, cpu.stat usage_usec, io.stat bytes, pids", () => {
    const l = detectCgroupLayout(`${FIX}/v2`);
    expect(readCgroupUsage(l, "/system.slice/nginx.service")).toEqual({
      path: "/system.slice/nginx.service",
      memoryBytes: 104857600,
      cpuUsageUs: 12345678,
      ioBytes: 409600 + 819200,
      pids: 5,
    });
    // No pids.current: the members of cgroup.procs are counted.
    expect(readCgroupUsage(l, "/user.slice")).toEqual({ path: "/user.slice", memoryBytes: 536870912, cpuUsageUs: 7000000, ioBytes: 0, pids: 3 });
  });

  test("readCgroupUsage() on v1/hybrid: each controller's own hierarchy, cpuacct ns to us", () => {
    for (const scenario of ["v1", "hybrid"]) {
      const l = detectCgroupLayout(`${FIX}/${scenario}`);
      expect(readCgroupUsage(l, "/system.slice/postgres.service")).toEqual({
        path: "/system.slice/postgres.service",
        memoryBytes: 536870912,
        cpuUsageUs: 40000000,
        ioBytes: 500000 + 2500000,
        pids: 7,
      });
      // Only in the memory hierarchy: the others read 0, pids from cgroup.procs.
      expect(readCgroupUsage(l, "/docker/abc123")).toEqual({ path: "/docker/abc123", memoryBytes: 268435456, cpuUsageUs: 0, ioBytes: 0, pids: 2 });
    }
  });

  test("io.stat and blkio parsers sum reads and writes, never the Total lines", () => {
    expect(parseIoStatBytes("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=5 dios=1\n259:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n")).toBe(33);
    expect(parseBlkioServiceBytes("8:0 Read 10\n8:0 Write 20\n8:0 Sync 20\n8:0 Async 10\n8:0 Total 30\nTotal 30\n")).toBe(30);
  });

  test("parseProcCgroup() maps v1 controllers and the v2 hierarchy to paths", () => {
    const m = parseProcCgroup("12:cpu,cpuacct:/a\n4:memory:/process_api/x\n1:name=systemd:/\n0::/user.slice\n");
    expect(m.get("cpu")).toBe("/a");
    expect(m.get("cpuacct")).toBe("/a");
    expect(m.get("memory")).toBe("/process_api/x");
    expect(m.get("")).toBe("/user.slice");
  });
});

const live = detectCgroupLayout("/sys/fs/cgroup");
const selfCg = parseProcCgroup(readFileSync("/proc/self/cgroup", "latin1"));
const canMakeCgroup = process.getuid?.() === 0 && live.attributionRoot !== "";

describe("cgroups on this host", () => {
  test("this host's layout is detected as it is mounted", () => {
    // Ground truth from the mount table, independent of the detector's file checks.
    const mounts = readFileSync("/proc/self/mountinfo", "latin1");
    const v1 = / - cgroup /.test(mounts);
    const v2 = / - cgroup2 /.test(mounts);
    const expected = v1 && v2 ? "hybrid" : v1 ? "v1" : v2 ? "v2" : "none";
    expect(live.version).toBe(expected);
  });

  test.skipIf(!canMakeCgroup)("a child cgroup with a process in it is listed with its usage and its kernfs id", async () => {
    const memSelf = live.version === "v2" ? (selfCg.get("") ?? "/") : (selfCg.get("memory") ?? "/");
    const rel = `${memSelf === "/" ? "" : memSelf}/hosa-h3-test-${process.pid}`;
    const dir = live.attributionRoot + rel;
    mkdirSync(dir);
    // v1 does not move charges with a task: the shell execs sleep only after
    // the move, so the new image's pages are charged to the child group.
    const child = Bun.spawn(["sh", "-c", "read go; exec sleep 30"], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
    try {
      writeFileSync(`${dir}/cgroup.procs`, `${child.pid}\n`);
      child.stdin.write("go\n");
      child.stdin.flush();
      expect(listCgroups(live, { maxDepth: 16, maxCount: 100000 })).toContain(rel);
      let u = readCgroupUsage(live, rel);
      for (let i = 0; i < 200 && u.memoryBytes === 0; i++) {
        await Bun.sleep(10);
        u = readCgroupUsage(live, rel);
      }
      expect(u.path).toBe(rel);
      expect(u.pids).toBe(1);
      expect(u.memoryBytes).toBeGreaterThan(0);
      expect(cgroupId(live, rel)).toBe(statSync(dir).ino);
    } finally {
      child.kill();
      await child.exited;
      // The kernel needs the exited task gone from the group before rmdir.
      for (let i = 0; i < 100 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await Bun.sleep(10);
        }
      }
    }
    expect(existsSync(dir)).toBe(false);
  });

  test("controllerAccess() judges each controller on this process's own cgroup", () => {
    const acc = controllerAccess(live);
    expect(acc.length).toBeGreaterThan(0);
    for (const a of acc) {
      expect(existsSync(a.dir)).toBe(true);
      if (!a.writable) expect(a.reason).not.toBe("");
    }
    if (process.getuid?.() === 0) expect(acc.find((a) => a.controller.startsWith("memory"))?.writable).toBe(true);
  });
});
