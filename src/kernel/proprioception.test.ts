import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname } from "node:path";
import { classifyEnvironment, countCpuList, discoverNode, hasDefaultRoute, parseCacheSize, parseCapabilities } from "./proprioception.ts";

const FIX = `${import.meta.dir}/../../test/fixtures`;
const tmp = mkdtempSync(`${tmpdir()}/hosa-proprio-`);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A /sys (or / for marker files) tree written into the temp dir: tests that write use a temp copy. */
function tree(name: string, files: Record<string, string>): string {
  const root = `${tmp}/${name}`;
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(`${root}/${rel}`), { recursive: true });
    writeFileSync(`${root}/${rel}`, text);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

const serverSys = () =>
  tree("sys-server", {
    "devices/system/cpu/online": "0-7\n",
    "devices/system/cpu/cpu0/cache/index0/level": "1\n",
    "devices/system/cpu/cpu0/cache/index0/type": "Data\n",
    "devices/system/cpu/cpu0/cache/index0/size": "32K\n",
    "devices/system/cpu/cpu0/cache/index1/level": "1\n",
    "devices/system/cpu/cpu0/cache/index1/type": "Instruction\n",
    "devices/system/cpu/cpu0/cache/index1/size": "32K\n",
    "devices/system/cpu/cpu0/cache/index2/level": "2\n",
    "devices/system/cpu/cpu0/cache/index2/type": "Unified\n",
    "devices/system/cpu/cpu0/cache/index2/size": "1024K\n",
    "devices/system/cpu/cpu0/cache/index3/level": "3\n",
    "devices/system/cpu/cpu0/cache/index3/type": "Unified\n",
    "devices/system/cpu/cpu0/cache/index3/size": "28160K\n",
    "devices/system/node/node0/cpulist": "0-3\n",
    "devices/system/node/node1/cpulist": "4-7\n",
    "devices/system/node/online": "0-1\n",
    "class/dmi/id/sys_vendor": "Dell Inc.\n",
    "class/dmi/id/product_name": "PowerEdge R740\n",
    "kernel/btf/vmlinux": "",
  });

describe("proprioception on fixtures", () => {
  test("a physical two-node server with IPMI: cores, NUMA, caches, memory, kernel, caps, bare-metal", () => {
    const fs = tree("fs-server", { "dev/ipmi0": "" });
    const f = discoverNode(`${FIX}/proc/node-server`, serverSys(), { fsRoot: fs, cgroupRoot: `${FIX}/cgroupfs/v2`, env: {} });
    expect(f.cores).toBe(8);
    expect(f.numaNodes).toBe(2);
    expect([f.cacheL1dBytes, f.cacheL1iBytes, f.cacheL2Bytes, f.cacheL3Bytes]).toEqual([32768, 32768, 1048576, 28160 * 1024]);
    expect(f.cacheSource).toBe("sysfs");
    expect(f.memoryBytes).toBe(263856428 * 1024);
    expect(f.kernelRelease).toBe("6.1.0-28-amd64");
    expect(f.cgroupVersion).toBe("v2");
    expect(f.machine).toBe("bare-metal");
    expect(f.vendor).toBe("Dell Inc.");
    expect(f.container).toBe("");
    expect(f.kubernetes).toBe(false);
    expect(f.btf).toBe(true);
    expect(f.psi).toBe(true);
    expect(f.capabilities).toEqual({ effectiveHex: "000001ffffffffff", bpf: true, perfmon: true, sysAdmin: true, netAdmin: true });
    expect(f.ipmi).toBe(true);
    expect(f.defaultRoute).toBe(true);
    expect(f.environmentClass).toBe("bare-metal");
    expect(f.environmentReason).toContain("IPMI");
  });

  test("a small physical box with no route is airgap, without BTF, caches from cpuinfo, no CAP_BPF", () => {
    const sys = tree("sys-edge", { "class/dmi/id/sys_vendor": "Raspberry Pi Foundation\n", "class/dmi/id/product_name": "Raspberry Pi 4 Model B\n" });
    const f = discoverNode(`${FIX}/proc/node-edge`, sys, { fsRoot: tree("fs-edge", { "dev/watchdog": "" }), cgroupRoot: `${FIX}/cgroupfs/v1`, env: {} });
    expect(f.cores).toBe(4); // no sysfs online list: the cpuN lines of /proc/stat
    expect(f.numaNodes).toBe(1);
    expect(f.cacheSource).toBe("cpuinfo");
    expect(f.cacheL2Bytes).toBe(6144 * 1024);
    expect(f.btf).toBe(false);
    expect(f.capabilities).toEqual({ effectiveHex: "0000000000001000", bpf: false, perfmon: false, sysAdmin: false, netAdmin: true });
    expect(f.defaultRoute).toBe(false);
    expect(f.watchdog).toBe(true);
    expect(f.cgroupVersion).toBe("v1");
    expect(f.kernelRelease).toBe("5.10.0-30-arm64");
    expect(f.environmentClass).toBe("airgap");
  });

  test("a Kubernetes pod is kubernetes, from PID 1's kubepods cgroup or the service environment", () => {
    const sys = tree("sys-k8s", { "class/dmi/id/sys_vendor": "Amazon EC2\n", "class/dmi/id/product_name": "m5.xlarge\n" });
    const f = discoverNode(`${FIX}/proc/node-k8s-pod`, sys, { fsRoot: tree("fs-k8s", {}), cgroupRoot: `${FIX}/cgroupfs/v2`, env: {} });
    expect(f.container).toBe("kubernetes");
    expect(f.machine).toBe("vm");
    expect(f.kubernetes).toBe(true);
    expect(f.environmentClass).toBe("kubernetes");
    const byEnv = discoverNode(`${FIX}/proc/node-server`, serverSys(), { fsRoot: tree("fs-plain", {}), env: { KUBERNETES_SERVICE_HOST: "10.96.0.1" } });
    expect(byEnv.environmentClass).toBe("kubernetes");
  });

  test("classifyEnvironment() rules: VM and containers are cloud-vm, physical by IPMI/watchdog/size, unsure is cloud-vm", () => {
    const base = discoverNode(`${FIX}/proc/node-server`, serverSys(), { fsRoot: tree("fs-none", {}), env: {} });
    const cls = (over: Partial<typeof base>) => classifyEnvironment({ ...base, ...over }).environmentClass;
    expect(cls({ machine: "vm" })).toBe("cloud-vm");
    expect(cls({ container: "docker" })).toBe("cloud-vm");
    expect(cls({ ipmi: true })).toBe("bare-metal");
    expect(cls({ ipmi: false, watchdog: true })).toBe("edge-remote");
    expect(cls({ ipmi: false, watchdog: false, cores: 4, memoryBytes: 8 * 1024 ** 3 })).toBe("edge-physical");
    expect(cls({ ipmi: false, watchdog: false })).toBe("bare-metal");
    expect(cls({ machine: "unknown" })).toBe("cloud-vm");
    expect(cls({ defaultRoute: false, machine: "vm" })).toBe("airgap");
    expect(cls({ kubernetes: true, defaultRoute: false })).toBe("kubernetes");
  });

  test("small parsers: cpu lists, cache sizes, capabilities, default routes", () => {
    expect(countCpuList("0-3,8-11\n")).toBe(8);
    expect(countCpuList("0\n")).toBe(1);
    expect(parseCacheSize("28160K")).toBe(28160 * 1024);
    expect(parseCacheSize("32M")).toBe(32 * 1024 ** 2);
    expect(parseCapabilities("CapEff:\t0000008000000000\n").bpf).toBe(true); // bit 39 alone
    expect(parseCapabilities("CapEff:\t0000008000000000\n").sysAdmin).toBe(false);
    const lo6 = readFileSync(`${FIX}/proc/node-server/net/ipv6_route`, "latin1");
    expect(hasDefaultRoute(undefined, lo6)).toBe(false); // the kernel's reject route on lo is no way out
    expect(hasDefaultRoute(undefined, "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n")).toBe(true);
  });
});

describe("proprioception on this host", () => {
  test("discoverNode() with the real roots matches what the host shows", () => {
    const f = discoverNode();
    expect(f.cores).toBe(cpus().length);
    expect(f.memoryBytes).toBeGreaterThan(0);
    expect(f.kernelRelease).toBe(readFileSync("/proc/sys/kernel/osrelease", "latin1").trim());
    expect(f.btf).toBe(existsSync("/sys/kernel/btf/vmlinux"));
    expect(f.psi).toBe(existsSync("/proc/pressure/cpu"));
    expect(f.container === "docker").toBe(existsSync("/.dockerenv"));
    if (process.getuid?.() === 0) expect(f.capabilities.sysAdmin).toBe(true);
    expect(["bare-metal", "cloud-vm", "kubernetes", "edge-physical", "edge-remote", "airgap"]).toContain(f.environmentClass);
    expect(f.environmentReason).not.toBe("");
    // This host: hybrid cgroups, a hypervisor CPU flag and /.dockerenv.
    if (/\bhypervisor\b/.test(readFileSync("/proc/cpuinfo", "latin1"))) {
      expect(f.machine).toBe("vm");
      if (f.defaultRoute && !f.kubernetes) expect(f.environmentClass).toBe("cloud-vm");
    }
  });
});
