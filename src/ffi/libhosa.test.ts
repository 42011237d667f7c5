// libhosa through bun:ffi on the real kernel: errors come back typed, per-CPU
// reads sum, the ring buffer keeps what does not fit, XDP attaches to a veth
// pair inside a network namespace of the test's own. Needs root and BTF.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { detectCgroupLayout } from "../kernel/cgroups.ts";
import * as ffi from "./libhosa.ts";

const isRoot = process.getuid?.() === 0;
const skipReason = !isRoot ? "needs root (CAP_BPF)" : !existsSync("/sys/kernel/btf/vmlinux") ? "needs /sys/kernel/btf/vmlinux" : "";
if (skipReason) console.warn(`libhosa.test.ts: skipped: ${skipReason}`);

const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);

const hierarchy = detectCgroupLayout().memoryHierarchy;
/** The id (directory inode) of this process's cgroup in the hierarchy the probes attribute to. */
function ownCgroup(): bigint {
  const lines = readFileSync("/proc/self/cgroup", "latin1").trim().split("\n");
  const rel =
    hierarchy === "v2"
      ? (lines.find((l) => l.startsWith("0::"))?.slice(3) ?? "/")
      : (lines.find((l) => l.split(":")[1]?.split(",").includes("memory"))?.split(":")[2] ?? "/");
  return statSync(join(hierarchy === "v2" ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory", rel), { bigint: true }).ino;
}
const ownCgroupId = skipReason ? 0n : ownCgroup();

function openProbesObject(): number {
  const h = ffi.objOpenMem(ffi.bpfObjectImage("probes"), "probes");
  // Every fork a burst of its own: threshold 1 in a 1 ns window.
  ffi.objSetRodata(h, "fork_burst_threshold", u32(1));
  ffi.objSetRodata(h, "fork_burst_window_ns", new Uint8Array(new BigUint64Array([1n]).buffer));
  ffi.objSetRodata(h, "cgroup_mode", u32(hierarchy === "v2" ? 0 : 1));
  return h;
}

describe.skipIf(skipReason !== "")("libhosa", () => {
  const open: number[] = [];
  afterAll(() => {
    for (const h of open) ffi.objClose(h);
  });

  test("a bad image is an FfiError with the errno and libhosa's message", () => {
    let err: unknown;
    try {
      ffi.objOpenMem(new Uint8Array([1, 2, 3, 4]), "garbage");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ffi.FfiError);
    expect((err as ffi.FfiError).errno).toBeGreaterThan(0);
    expect((err as ffi.FfiError).message).toStartWith("open BPF object garbage: ");
  });

  test("objSetRodata() refuses a wrong size and an unknown name", () => {
    const h = openProbesObject();
    open.push(h);
    expect(() => ffi.objSetRodata(h, "cgroup_mode", new Uint8Array(8))).toThrow("set cgroup_mode: it is 4 bytes, 8 given: Invalid argument");
    expect(() => ffi.objSetRodata(h, "no_such_option", u32(1))).toThrow("set no_such_option: no such const volatile variable");
    expect(() => ffi.objMapFd(h, "counters")).toThrow(ffi.FfiError);
  });

  test("per-CPU sums, hash dumps and the ring buffer read a loaded object", () => {
    const h = openProbesObject();
    open.push(h);
    ffi.objLoad(h);
    const attached = ffi.objAttachAll(h);
    // All but sys_enter, which is off unless enabled (SEC("?...")), and the
    // cgroup iterator, attached to the hierarchy the caller names.
    expect(ffi.objPrograms(h).filter((p) => !p.attached).map((p) => p.name)).toEqual(["sys_enter", "cgroup_usage"]);
    expect(attached).toBe(ffi.objPrograms(h).length - 2);
    expect(() => ffi.objAttachIterCgroup(h, "cgroup_usage", "/nonexistent-hosa-cgroup")).toThrow(ffi.FfiError);
    // The memory hierarchy: v1's controller on a hybrid host, else the unified root.
    ffi.objAttachIterCgroup(h, "cgroup_usage", existsSync("/sys/fs/cgroup/memory") ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup");
    expect(ffi.objPrograms(h).find((p) => p.name === "cgroup_usage")?.attached).toBe(true);
    // Pairs of u64 (id, pages), the walk's root first.
    const pass = new Uint8Array(16 * 4096);
    const got = ffi.iterRead(h, ffi.cString("cgroup_usage"), pass);
    expect(got % 16).toBe(0);
    expect(got).toBeGreaterThanOrEqual(16);
    expect(ffi.pageSize()).toBeGreaterThanOrEqual(4096);
    for (let i = 0; i < 5; i++) Bun.spawnSync(["/bin/true"]);

    const totals = new BigUint64Array(17);
    expect(ffi.percpuSum(ffi.objMapFd(h, "counters"), new Uint8Array(4), totals)).toBe(true);
    expect(totals[3]).toBeGreaterThanOrEqual(5n); // HOSA_C_FORKS
    expect(() => ffi.percpuSum(ffi.objMapFd(h, "counters"), new Uint8Array(4), new BigUint64Array(3))).toThrow("not 3 u64");

    const fd = ffi.objMapFd(h, "cgroup_counters");
    const keys = new Uint8Array(8 * 4096);
    const values = new BigUint64Array(17 * 4096);
    const n = ffi.percpuHashDump(fd, keys, values, 4096, 17);
    expect(n).toBeGreaterThan(0);
    let forks = 0n;
    for (let i = 0; i < n; i++) forks += values[i * 17 + 3]!;
    expect(forks).toBeGreaterThanOrEqual(5n);

    // A limit smaller than the map stops early, at a bucket boundary.
    const partial = ffi.percpuHashDump(fd, keys, values, 2, 17);
    expect(partial).toBeGreaterThanOrEqual(1);
    expect(partial).toBeLessThanOrEqual(2);
    // reset: what was read is deleted; this cgroup forks nothing between the two reads.
    const ownForks = () => {
      const m = ffi.percpuHashDump(fd, keys, values, 4096, 17);
      const ids = new BigUint64Array(keys.buffer);
      for (let i = 0; i < m; i++) if (ids[i] === ownCgroupId) return values[i * 17 + 3]!;
      return 0n;
    };
    expect(ownForks()).toBeGreaterThanOrEqual(5n);
    expect(ffi.percpuHashDump(fd, keys, values, 4096, 17, true)).toBeGreaterThan(0);
    expect(ownForks()).toBe(0n);

    // Each fork is an event of 48 bytes (+8 header).
    const ring = ffi.ringbufOpen(h, "events");
    const small = new Uint8Array(56);
    expect(ffi.ringbufDrain(ring, small)).toBe(56);
    expect(new DataView(small.buffer).getUint32(0, true)).toBe(48);
    expect(ffi.ringbufDrain(ring, new Uint8Array(40))).toBe(0); // does not fit: stays
    expect(ffi.ringbufDrain(ring, new Uint8Array(64 * 1024))).toBeGreaterThanOrEqual(56);
  });

  test("the sys_enter variant (for kernels before 6.11) loads and counts brk and mmap", () => {
    const h = openProbesObject();
    open.push(h);
    ffi.objSetAutoload(h, "mmap_lock_acquire_returned", false);
    ffi.objSetAutoload(h, "sys_enter", true);
    ffi.objLoad(h);
    ffi.objAttachAll(h);
    expect(ffi.objPrograms(h).find((p) => p.name === "sys_enter")?.attached).toBe(true);
    expect(ffi.objPrograms(h).find((p) => p.name === "mmap_lock_acquire_returned")?.attached).toBe(false);
    expect(Bun.spawnSync(["dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1"]).exitCode).toBe(0);
    const totals = new BigUint64Array(17);
    ffi.percpuSum(ffi.objMapFd(h, "counters"), new Uint8Array(4), totals);
    expect(totals[5]).toBeGreaterThan(0n); // HOSA_C_BRK_CALLS
    expect(totals[6]).toBeGreaterThan(0n); // HOSA_C_MMAP_CALLS
    expect(ffi.tracepointArgs("sys_enter")).toBe(2);
    expect(ffi.tracepointArgs("no_such_tracepoint")).toBeUndefined();
  });

  test("generic map lookup, update and delete round-trip", () => {
    const h = openProbesObject();
    open.push(h);
    ffi.objLoad(h);
    const fd = ffi.objMapFd(h, "rq_started"); // HASH: u64 key, 16-byte value; nothing attached writes it
    expect(ffi.mapSizes(fd)).toEqual({ keySize: 8, valueSize: 16 });
    const key = new Uint8Array(new BigUint64Array([42n]).buffer);
    const value = new Uint8Array(new BigUint64Array([7n, 9n]).buffer);
    const got = new Uint8Array(16);
    expect(ffi.mapLookup(fd, key, got)).toBe(false);
    ffi.mapUpdate(fd, key, value, ffi.MAP_UPDATE.NOEXIST);
    expect(() => ffi.mapUpdate(fd, key, value, ffi.MAP_UPDATE.NOEXIST)).toThrow("File exists");
    expect(ffi.mapLookup(fd, key, got)).toBe(true);
    expect([...new BigUint64Array(got.buffer)]).toEqual([7n, 9n]);
    expect(ffi.mapDelete(fd, key)).toBe(true);
    expect(ffi.mapDelete(fd, key)).toBe(false);
    expect(ffi.numPossibleCpus()).toBeGreaterThan(0);
  });

  test("XDP attaches to a veth in native mode, is queried, detached, and closing detaches", () => {
    const ns = `hosa-ffi-${process.pid}`;
    const ip = (...a: string[]) => Bun.spawnSync(["ip", ...a], { stderr: "pipe" });
    expect(ip("netns", "add", ns).exitCode).toBe(0);
    try {
      expect(ip("-n", ns, "link", "add", "xa", "type", "veth", "peer", "name", "xb").exitCode).toBe(0);
      expect(ip("-n", ns, "link", "set", "xa", "up").exitCode).toBe(0);
      expect(ip("-n", ns, "link", "set", "xb", "up").exitCode).toBe(0);
      // ifindexes are per namespace, so the XDP calls run in a child inside it.
      const script = `
        import * as ffi from ${JSON.stringify(resolve(import.meta.dir, "libhosa.ts"))};
        import { readFileSync } from "node:fs";
        const ifindex = Number(readFileSync("/sys/class/net/xa/ifindex", "latin1"));
        const h = ffi.objOpenMem(ffi.bpfObjectImage("xdp_shed"), "xdp_shed");
        ffi.objLoad(h);
        const prog = ffi.objPrograms(h)[0].name;
        const out = {};
        out.native = ffi.xdpAttach(h, prog, ifindex, ffi.XDP_MODE.NATIVE);
        out.queried = ffi.xdpQuery(ifindex);
        ffi.xdpDetach(ifindex);
        out.afterDetach = ffi.xdpQuery(ifindex);
        out.generic = ffi.xdpAttach(h, prog, ifindex, ffi.XDP_MODE.GENERIC);
        out.queriedGeneric = ffi.xdpQuery(ifindex);
        ffi.xdpDetach(ifindex, ffi.XDP_MODE.GENERIC);
        out.auto = ffi.xdpAttach(h, prog, ifindex);
        ffi.objClose(h);
        out.afterClose = ffi.xdpQuery(ifindex);
        try { ffi.xdpAttach(h, prog, ifindex); } catch (e) { out.closedError = e.message; }
        console.log(JSON.stringify(out));`;
      const r = Bun.spawnSync(["ip", "netns", "exec", ns, process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", cwd: join(import.meta.dir, "../..") });
      expect(r.stderr.toString()).toBe("");
      const out = JSON.parse(r.stdout.toString());
      expect(out).toEqual({
        native: ffi.XDP_MODE.NATIVE,
        queried: ffi.XDP_MODE.NATIVE,
        afterDetach: 0,
        generic: ffi.XDP_MODE.GENERIC,
        queriedGeneric: ffi.XDP_MODE.GENERIC,
        auto: ffi.XDP_MODE.NATIVE,
        afterClose: 0,
        closedError: expect.stringContaining("no such object handle"),
      });
    } finally {
      ip("netns", "del", ns);
    }
  });
});

describe("memory", () => {
  test("releaseExecutablePages() advises the clean mappings of this process's executable", () => {
    // Under bun test the executable is bun itself: tens of megabytes of code and read-only data.
    expect(ffi.releaseExecutablePages()).toBeGreaterThan(1024 * 1024);
    // Still running after its pages were handed back: they come back on use.
    expect(ffi.numPossibleCpus()).toBeGreaterThan(0);
  });
});
