// Proprioception: what this node is, discovered once at start from /proc and
// /sys, and the environment class that decides how far quarantine may go.
// Nothing here writes; everything has a root so tests can use fixtures.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { MARKERS, PROC, ROOTS, SYS } from "./files.ts";
import { detectCgroupLayout, type CgroupVersion } from "./cgroups.ts";

export type EnvironmentClass = "bare-metal" | "cloud-vm" | "kubernetes" | "edge-physical" | "edge-remote" | "airgap";

export interface Capabilities {
  /** CapEff from /proc/self/status, hex as the kernel prints it. */
  effectiveHex: string;
  bpf: boolean;
  perfmon: boolean;
  sysAdmin: boolean;
  netAdmin: boolean;
}

export interface NodeFacts {
  hostname: string;
  kernelRelease: string;
  /** Online CPUs. */
  cores: number;
  numaNodes: number;
  /** Per-core L1 data / L1 instruction / L2 and the L3 cpu0 sees, bytes; 0 when unknown. */
  cacheL1dBytes: number;
  cacheL1iBytes: number;
  cacheL2Bytes: number;
  cacheL3Bytes: number;
  /** Where the cache sizes came from: "sysfs", "cpuinfo" (one size, level unknown: reported as L2) or "unknown". */
  cacheSource: "sysfs" | "cpuinfo" | "unknown";
  memoryBytes: number;
  cgroupVersion: CgroupVersion;
  /** "docker", "podman", "containerd", "lxc", "kubernetes" or "" when not in a container. */
  container: string;
  /** "vm", "bare-metal" or "unknown" (no DMI and no hypervisor flag: cannot tell). */
  machine: "vm" | "bare-metal" | "unknown";
  /** DMI sys_vendor and product_name, "" when unreadable. */
  vendor: string;
  product: string;
  kubernetes: boolean;
  btf: boolean;
  psi: boolean;
  capabilities: Capabilities;
  ipmi: boolean;
  watchdog: boolean;
  /** A default route exists (IPv4 or IPv6). */
  defaultRoute: boolean;
  environmentClass: EnvironmentClass;
  /** The rule that chose the class, in words. */
  environmentReason: string;
}

export interface DiscoverOptions {
  /** Where /.dockerenv, /run/.containerenv, /var/run/secrets and /dev/ipmi0 are looked for (default "/"). */
  fsRoot?: string;
  cgroupRoot?: string;
  env?: Record<string, string | undefined>;
}

// Capability numbers from include/uapi/linux/capability.h.
export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

const VM_VENDORS = /qemu|kvm|vmware|virtualbox|innotek|xen|microsoft corporation|amazon ec2|google|openstack|digitalocean|hetzner|bochs|parallels|oracle cloud|alibaba|nutanix|firecracker|cloud hypervisor/i;
const VM_PRODUCTS = /virtual machine|kvm|vmware|virtualbox|hvm domu|google compute engine|openstack|droplet|standard pc|bochs/i;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
}

/** `0-3,8-11` (the kernel's cpu list format) → 8. */
export function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(",")) {
    if (!part) continue;
    const [a, b] = part.split("-").map((v) => Number.parseInt(v, 10));
    if (!Number.isFinite(a)) continue;
    n += Number.isFinite(b) ? b - a + 1 : 1;
  }
  return n;
}

/** `32K`, `1024K`, `32M` as sysfs cache sizes print → bytes. */
export function parseCacheSize(s: string): number {
  const m = /^(\d+)\s*([KMG]?)/i.exec(s.trim());
  if (!m) return 0;
  const mult = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
  return Number(m[1]) * mult;
}

/** The effective capability set as named booleans. */
export function parseCapabilities(status: string): Capabilities {
  const m = /^CapEff:\s*([0-9a-fA-F]+)/m.exec(status);
  const hex = m ? m[1] : "0";
  const eff = BigInt(`0x${hex}`);
  const has = (bit: number) => ((eff >> BigInt(bit)) & 1n) === 1n;
  return { effectiveHex: hex, bpf: has(CAP_BPF), perfmon: has(CAP_PERFMON), sysAdmin: has(CAP_SYS_ADMIN), netAdmin: has(CAP_NET_ADMIN) };
}

/** A usable default route in /proc/net/route (destination 0, mask 0, route up) or /proc/net/ipv6_route (::/0, not a reject route, not on lo). */
export function hasDefaultRoute(route4: string | undefined, route6: string | undefined): boolean {
  for (const line of (route4 ?? "").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === "00000000" && f[7] === "00000000" && (Number.parseInt(f[3], 16) & 1) === 1) return true;
  }
  for (const line of (route6 ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    // RTF_REJECT (0x0200) marks the kernel's unreachable ::/0 on lo.
    if (f.length >= 10 && /^0{32}$/.test(f[0]) && f[1] === "00" && (Number.parseInt(f[8], 16) & 0x200) === 0 && f[9] !== "lo") return true;
  }
  return false;
}

/** Container runtime from its marker files and PID 1's cgroup paths. */
export function detectContainer(fsRoot: string, initCgroup: string | undefined): string {
  const cg = initCgroup ?? "";
  if (/kubepods/.test(cg)) return "kubernetes";
  if (existsSync(`${fsRoot}${MARKERS.dockerenv}`) || /\/docker[/-]/.test(cg)) return "docker";
  if (existsSync(`${fsRoot}${MARKERS.containerenv}`) || /libpod/.test(cg)) return "podman";
  if (/containerd|cri-containerd/.test(cg)) return "containerd";
  if (/\/lxc[/.]/.test(cg)) return "lxc";
  return "";
}

/**
 * The environment class, most conservative when unsure. In order:
 * 1. Kubernetes: KUBERNETES_SERVICE_HOST is set, a service-account secret is
 *    mounted, or PID 1 runs in a kubepods cgroup.
 * 2. airgap: no default route at all (IPv4 or IPv6): nothing may be called.
 * 3. cloud-vm: a hypervisor (CPU flag or DMI vendor/product) or a container
 *    runtime: the network interfaces are not ours to switch off.
 * 4. Physical (DMI readable, no hypervisor): with /dev/ipmi0 → bare-metal;
 *    with /dev/watchdog → edge-remote (a watchdog can bring it back when
 *    nobody is there); at most 8 cores and 16 GiB → edge-physical; larger →
 *    bare-metal.
 * 5. Anything else (no DMI, no flag: cannot tell) → cloud-vm.
 */
export function classifyEnvironment(f: Omit<NodeFacts, "environmentClass" | "environmentReason">): { environmentClass: EnvironmentClass; environmentReason: string } {
  const c = (environmentClass: EnvironmentClass, environmentReason: string) => ({ environmentClass, environmentReason });
  if (f.kubernetes) return c("kubernetes", "Kubernetes service environment or service-account secret present");
  if (!f.defaultRoute) return c("airgap", "no default route (IPv4 or IPv6)");
  if (f.machine === "vm") return c("cloud-vm", `virtual machine: ${f.vendor || f.product ? `${f.vendor} ${f.product}`.trim() : "hypervisor CPU flag"}`);
  if (f.container) return c("cloud-vm", `inside a ${f.container} container: interfaces are not hosa's to switch off`);
  if (f.machine === "bare-metal") {
    if (f.ipmi) return c("bare-metal", "physical machine with IPMI (/dev/ipmi0)");
    if (f.watchdog) return c("edge-remote", "physical machine with a hardware watchdog and no IPMI");
    if (f.cores <= 8 && f.memoryBytes <= 16 * 1024 ** 3) return c("edge-physical", `small physical machine, ${f.cores} cores and ${Math.round(f.memoryBytes / 1024 ** 3)} GiB, without IPMI or watchdog`);
    return c("bare-metal", "physical machine without IPMI");
  }
  return c("cloud-vm", "cannot tell VM from bare metal, no DMI and no hypervisor flag: the most conservative class");
}

function cacheSizes(sysRoot: string): { l1d: number; l1i: number; l2: number; l3: number } | undefined {
  const dir = `${sysRoot}/${SYS.cpu0Cache}`;
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((e) => /^index\d+$/.test(e));
  } catch {
    return undefined;
  }
  const out = { l1d: 0, l1i: 0, l2: 0, l3: 0 };
  for (const e of entries) {
    const level = Number.parseInt(read(`${dir}/${e}/level`) ?? "", 10);
    const type = (read(`${dir}/${e}/type`) ?? "").trim();
    const size = parseCacheSize(read(`${dir}/${e}/size`) ?? "");
    if (level === 1 && type === "Data") out.l1d = size;
    else if (level === 1 && type === "Instruction") out.l1i = size;
    else if (level === 2) out.l2 = size;
    else if (level === 3) out.l3 = size;
  }
  return entries.length > 0 ? out : undefined;
}

/** This process's effective capabilities, from /proc/self/status. */
export function readSelfCapabilities(procRoot: string = ROOTS.proc): Capabilities {
  return parseCapabilities(read(`${procRoot}/${PROC.selfStatus}`) ?? "");
}

/** Whether the kernel exposes its BTF (CO-RE programs relocate against it). */
export function hasBtf(sysRoot: string = ROOTS.sys): boolean {
  return existsSync(`${sysRoot}/${SYS.btfVmlinux}`);
}

/** The kernel release ("6.1.0-18-amd64"), "" when unreadable. */
export function readKernelRelease(procRoot: string = ROOTS.proc): string {
  return (read(`${procRoot}/${PROC.osrelease}`) ?? "").trim();
}

/** An interface's index in this network namespace, undefined when there is no such interface. */
export function readIfindex(ifname: string, sysRoot: string = ROOTS.sys): number | undefined {
  // An interface name is at most 15 bytes and never contains "/" (dev_valid_name in net/core/dev.c).
  if (!/^[^/\s]{1,15}$/.test(ifname) || ifname === "." || ifname === "..") return undefined;
  const n = Number((read(`${sysRoot}/${SYS.classNet}/${ifname}/ifindex`) ?? "").trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Whether PSI can be read here, and where or why not (kernel ≥ 4.20 with CONFIG_PSI, not booted psi=0). */
export function psiAvailability(procRoot: string = ROOTS.proc): { available: boolean; detail: string } {
  try {
    readFileSync(`${procRoot}/${PROC.pressureMemory}`, "latin1");
    return { available: true, detail: `${procRoot}/pressure/{cpu,memory,io}` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file: kernel older than 4.20 or built without CONFIG_PSI" : code === "EOPNOTSUPP" ? "PSI disabled (boot with psi=1)" : String(code ?? e);
    return { available: false, detail: `${procRoot}/${PROC.pressureMemory}: ${why}; PSI dimensions read as 0` };
  }
}

/** Discover the node once. Unreadable facts degrade to "unknown"/0/false; this never throws. */
export function discoverNode(procRoot: string = ROOTS.proc, sysRoot: string = ROOTS.sys, opts: DiscoverOptions = {}): NodeFacts {
  const fsRoot = (opts.fsRoot ?? "/").replace(/\/+$/, "");
  const env = opts.env ?? process.env;
  const cpuinfo = read(`${procRoot}/${PROC.cpuinfo}`) ?? "";
  const stat = read(`${procRoot}/${PROC.stat}`) ?? "";
  const meminfo = read(`${procRoot}/${PROC.meminfo}`) ?? "";

  const online = read(`${sysRoot}/${SYS.cpuOnline}`);
  const cores = online !== undefined ? countCpuList(online) : (stat.match(/^cpu\d+ /gm) ?? []).length;
  let numaNodes = 0;
  try {
    numaNodes = readdirSync(`${sysRoot}/${SYS.nodeDir}`).filter((e) => /^node\d+$/.test(e)).length;
  } catch {
    numaNodes = 0;
  }
  const caches = cacheSizes(sysRoot);
  const cpuinfoCache = /^cache size\s*:\s*(\d+)\s*KB/m.exec(cpuinfo);
  const memTotal = /^MemTotal:\s*(\d+) kB/m.exec(meminfo);

  const vendor = (read(`${sysRoot}/${SYS.dmiSysVendor}`) ?? "").trim();
  const product = (read(`${sysRoot}/${SYS.dmiProductName}`) ?? "").trim();
  const hypervisorFlag = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo);
  const dmiSaysVm = VM_VENDORS.test(vendor) || VM_PRODUCTS.test(product);
  const machine: NodeFacts["machine"] = hypervisorFlag || dmiSaysVm ? "vm" : vendor || product ? "bare-metal" : "unknown";

  const initCgroup = read(`${procRoot}/${PROC.initCgroup}`);
  const container = detectContainer(fsRoot, initCgroup);
  const kubernetes = Boolean(env.KUBERNETES_SERVICE_HOST) || existsSync(`${fsRoot}${MARKERS.k8sSecrets}`) || container === "kubernetes";

  const facts: Omit<NodeFacts, "environmentClass" | "environmentReason"> = {
    hostname: hostname(),
    kernelRelease: (read(`${procRoot}/${PROC.osrelease}`) ?? "").trim() || "unknown",
    cores,
    numaNodes: Math.max(numaNodes, 1),
    cacheL1dBytes: caches?.l1d ?? 0,
    cacheL1iBytes: caches?.l1i ?? 0,
    cacheL2Bytes: caches?.l2 ?? (cpuinfoCache ? Number(cpuinfoCache[1]) * 1024 : 0),
    cacheL3Bytes: caches?.l3 ?? 0,
    cacheSource: caches ? "sysfs" : cpuinfoCache ? "cpuinfo" : "unknown",
    memoryBytes: memTotal ? Number(memTotal[1]) * 1024 : 0,
    cgroupVersion: detectCgroupLayout(opts.cgroupRoot ?? ROOTS.cgroup).version,
    container,
    machine,
    vendor,
    product,
    kubernetes,
    btf: hasBtf(sysRoot),
    psi: read(`${procRoot}/${PROC.pressureCpu}`) !== undefined,
    capabilities: readSelfCapabilities(procRoot),
    ipmi: existsSync(`${fsRoot}${MARKERS.ipmi}`),
    watchdog: existsSync(`${fsRoot}${MARKERS.watchdog}`),
    defaultRoute: hasDefaultRoute(read(`${procRoot}/${PROC.netRoute}`), read(`${procRoot}/${PROC.netIpv6Route}`)),
  };
  return { ...facts, ...classifyEnvironment(facts) };
}
