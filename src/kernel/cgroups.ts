// cgroup layout detection (pure v2, v1, or hybrid: v1 controllers with a
// cgroup2 mount beside them at <root>/unified) and per-cgroup usage for
// attribution. Detection looks only at files under the root, so a fixture
// directory in the kernel's layout is detected like the live one.
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { CGROUP_V1, CGROUP_V2, ROOTS, V1_DIR, type V1Controller } from "./files.ts";
import { readPidCgroups } from "./proc.ts";
import { errnoWords } from "./procfs.ts";
import * as ffi from "../ffi/libhosa.ts";

export type CgroupVersion = "v2" | "v1" | "hybrid" | "none";

export interface CgroupLayout {
  version: CgroupVersion;
  /** The configured root (`/sys/fs/cgroup`). */
  root: string;
  /** The hierarchy attribution walks: the v2 root on pure v2, the v1 memory hierarchy otherwise ("" when none). */
  attributionRoot: string;
  /** The cgroup2 mount: the root on pure v2, `<root>/unified` on hybrid, "" on v1. */
  unifiedRoot: string;
  /** Controllers enabled in the cgroup2 root (`cgroup.controllers`). */
  v2Controllers: string[];
  /** v1 controller hierarchies present under the root (memory, cpu, cpuacct, blkio, pids, freezer...). */
  v1Controllers: string[];
  /**
   * Where the memory controller lives, and with it attribution, cgroup ids
   * and every cgroup hosa contains: the cgroup2 root, or the v1 memory
   * hierarchy (v1 and hybrid; also when no cgroupfs is found, where nothing
   * is there to touch anyway).
   */
  memoryHierarchy: "v2" | "memory-v1";
}

const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "cpuset", "blkio", "pids", "freezer", "devices", "net_cls", "hugetlb", "perf_event"];

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
}

/** One cgroup's consumption at one tick, for attribution (which group grew most). */
export interface CgroupUsage {
  /** Path relative to the hierarchy root, starting with "/": "/system.slice/foo.service". */
  path: string;
  /** Bytes charged (memory.current, or memory.usage_in_bytes on v1). */
  memoryBytes: number;
  /** Cumulative CPU time in microseconds. */
  cpuUsageUs: number;
  /** Cumulative block I/O bytes read + written. */
  ioBytes: number;
  /** Number of processes. */
  pids: number;
  /** kernfs id of the cgroup (the inode of its directory): the key of the eBPF per-cgroup counters. */
  id?: number;
  /**
   * Cumulative eBPF counters charged to tasks while they were directly in
   * this cgroup (descendants not included), by ProbeTotals name (forks,
   * pageFaults, wakeups, ...); absent when the probes are not loaded.
   */
  probeCounters?: Record<string, number>;
}

/**
 * The directory of a controller's hierarchy: the cgroup2 root on pure v2, the
 * v1 controller's mount otherwise; "" when this node has no such hierarchy.
 */
export function controllerRoot(layout: CgroupLayout, controller: V1Controller): string {
  if (layout.version === "v2") return layout.root;
  return layout.v1Controllers.includes(controller) ? `${layout.root}/${V1_DIR[controller]}` : "";
}

/** Which cgroup layout `cgroupRoot` holds: the one detector, for sense, respond, the probes and doctor. */
export function detectCgroupLayout(cgroupRoot: string = ROOTS.cgroup): CgroupLayout {
  const root = cgroupRoot.replace(/\/+$/, "") || "/";
  const v1Controllers = V1_CONTROLLERS.filter((c) => existsSync(`${root}/${c}/${CGROUP_V1.procs}`));
  const pureV2 = readText(`${root}/${CGROUP_V2.controllers}`);
  if (pureV2 !== undefined) {
    return { version: "v2", root, attributionRoot: root, unifiedRoot: root, v2Controllers: words(pureV2), v1Controllers: [], memoryHierarchy: "v2" };
  }
  const unified = `${root}/${CGROUP_V1.unifiedDir}`;
  const hybridV2 = readText(`${unified}/${CGROUP_V2.controllers}`);
  const memoryV1 = v1Controllers.includes("memory") ? `${root}/${CGROUP_V1.memoryDir}` : "";
  if (v1Controllers.length > 0) {
    return {
      version: hybridV2 !== undefined ? "hybrid" : "v1",
      root,
      attributionRoot: memoryV1,
      unifiedRoot: hybridV2 !== undefined ? unified : "",
      v2Controllers: hybridV2 !== undefined ? words(hybridV2) : [],
      v1Controllers,
      memoryHierarchy: "memory-v1",
    };
  }
  return { version: "none", root, attributionRoot: "", unifiedRoot: "", v2Controllers: [], v1Controllers: [], memoryHierarchy: "memory-v1" };
}

function words(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

export interface ControllerAccess {
  controller: string;
  /** Directory of this process's cgroup in that controller's hierarchy. */
  dir: string;
  writable: boolean;
  reason: string;
}

/**
 * Whether hosa could create child cgroups and write limits for each
 * controller, judged on this process's own cgroup directory (access(2) with
 * W_OK: what the kernel would allow this process, without writing anything).
 */
export function controllerAccess(layout: CgroupLayout, procRoot: string = ROOTS.proc): ControllerAccess[] {
  const self = readPidCgroups(procRoot, "self");
  const out: ControllerAccess[] = [];
  const check = (controller: string, dir: string) => {
    try {
      accessSync(dir, constants.W_OK);
      out.push({ controller, dir, writable: true, reason: "" });
    } catch (e) {
      out.push({ controller, dir, writable: false, reason: errnoWords(e) });
    }
  };
  if (layout.version === "v2" || layout.version === "hybrid") {
    const rel = self.get("") ?? "/";
    for (const c of layout.v2Controllers) check(`${c} (v2)`, joinPath(layout.unifiedRoot, rel));
    if (layout.v2Controllers.length === 0 && layout.version === "hybrid") check("cgroup2 (no controllers)", joinPath(layout.unifiedRoot, rel));
  }
  for (const c of layout.v1Controllers) {
    const rel = self.get(c) ?? "/";
    check(`${c} (v1)`, joinPath(`${layout.root}/${c}`, rel));
  }
  return out;
}

function joinPath(root: string, rel: string): string {
  return rel === "/" || rel === "" ? root : `${root}${rel.startsWith("/") ? "" : "/"}${rel}`;
}

export interface CgroupScanOptions {
  /** Levels below the hierarchy root walked (the root itself is depth 0 and not listed). */
  maxDepth?: number;
  /** Most cgroups listed; the walk is breadth-first so the shallow ones come first. */
  maxCount?: number;
  /** Walk only this subtree (relative, "/a/b"; listed itself when it exists); "" or "/" = the whole hierarchy. */
  under?: string;
}

/**
 * A cgroup directory's link count: cgroupfs (kernfs) keeps st_nlink = 2 +
 * subdirectories, so a stat says whether a cgroup was made or removed under
 * it without a readdir. -1 when it is gone.
 */
export function dirLinkCount(dir: string): number {
  try {
    return statSync(dir, { throwIfNoEntry: false })?.nlink ?? -1;
  } catch {
    return -1;
  }
}

/** Whether the native walk may be tried (false once libhosa failed to load). */
let native = true;

/**
 * Cgroup directories under the attribution hierarchy, breadth-first, as paths
 * relative to it ("/system.slice/foo.service"). Unreadable directories are
 * skipped: a cgroup can vanish between readdir and the read.
 */
export function listCgroups(layout: CgroupLayout, opts: CgroupScanOptions = {}): string[] {
  const maxDepth = opts.maxDepth ?? 6;
  const maxCount = opts.maxCount ?? 2048;
  const base = layout.attributionRoot;
  if (!base) return [];
  const out: string[] = [];
  let under = (opts.under ?? "").replace(/\/+$/, "");
  if (under !== "" && !under.startsWith("/")) under = `/${under}`;
  let level = [under];
  if (under !== "") {
    if (!existsSync(base + under)) return [];
    out.push(under);
  }
  if (out.length >= maxCount) return out;
  // One native walk (directories only) when libhosa loads: a readdir of a
  // cgroup v1 directory makes an object of each of its thirty files, and the
  // danger watch walks every 2 s (docs/footprint.md).
  if (native) {
    try {
      for (const p of ffi.listDirs(base, under, maxDepth, maxCount - out.length)) out.push(p);
      return out;
    } catch (e) {
      // No libhosa here (another architecture, a noexec temp dir): never again; the walk's root gone: this time. Either way, as below.
      if (!(e instanceof ffi.FfiError)) native = false;
      out.length = under === "" ? 0 : 1;
    }
  }
  for (let depth = under.split("/").length; depth <= maxDepth && level.length > 0 && out.length < maxCount; depth++) {
    const next: string[] = [];
    for (const rel of level) {
      let entries;
      try {
        entries = readdirSync(base + rel, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const child = `${rel}/${e.name}`;
        out.push(child);
        next.push(child);
        if (out.length >= maxCount) break;
      }
      if (out.length >= maxCount) break;
    }
    level = next;
  }
  return out;
}

function readNumber(path: string): number {
  const t = readText(path);
  if (t === undefined) return NaN;
  const v = Number.parseInt(t, 10);
  return Number.isFinite(v) ? v : NaN;
}

/** `usage_usec N` from cpu.stat. */
export function parseCpuStatUsageUs(text: string): number {
  const m = /^usage_usec (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device; rbytes + wbytes summed. */
export function parseIoStatBytes(text: string): number {
  let sum = 0;
  const re = /\b[rw]bytes=(\d+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) sum += Number(m[1]);
  return sum;
}

/** blkio.throttle.io_service_bytes: `MAJ:MIN Read N` / `MAJ:MIN Write N` per device (the `Total` lines would count twice). */
export function parseBlkioServiceBytes(text: string): number {
  let sum = 0;
  const re = /^\S+ (Read|Write) (\d+)$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) sum += Number(m[2]);
  return sum;
}

/** Lines of a cgroup list file (cgroup.procs, tasks): a last line without its newline counts. */
export function countLines(text: string | undefined): number {
  if (!text) return 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  if (text.length > 0 && text.charCodeAt(text.length - 1) !== 10) n++;
  return n;
}

/**
 * A cgroup's memory limit in bytes, Infinity when it has none: v1
 * `memory.limit_in_bytes` (a huge page-rounded number means none), v2 the
 * lower of `memory.max` and `memory.high` ("max" means none).
 */
export function readMemoryLimit(layout: CgroupLayout, path: string): number {
  if (!layout.attributionRoot) return Infinity;
  const dir = layout.attributionRoot + path;
  if (layout.version === "v2") {
    let limit = Infinity;
    for (const f of [CGROUP_V2.memoryMax, CGROUP_V2.memoryHigh]) {
      const t = readText(`${dir}/${f}`)?.trim();
      const v = t === undefined || t === "max" ? Infinity : Number.parseInt(t, 10);
      if (Number.isFinite(v) && v < limit) limit = v;
    }
    return limit;
  }
  const v = readNumber(`${dir}/${CGROUP_V1.memoryLimit}`);
  return Number.isFinite(v) && v < 2 ** 60 ? v : Infinity;
}

/** A cgroup's charged memory (v2 memory.current, v1 memory.usage_in_bytes), NaN when unreadable. */
export function readMemoryUsage(layout: CgroupLayout, path: string): number {
  if (!layout.attributionRoot) return NaN;
  return readNumber(`${layout.attributionRoot}${path}/${layout.version === "v2" ? CGROUP_V2.memoryCurrent : CGROUP_V1.memoryUsage}`);
}

/** The kernfs id of a cgroup directory (its inode number), which BPF's cgroup ids equal; 0 when it cannot be read. */
export function cgroupId(layout: CgroupLayout, path: string): number {
  try {
    return statSync(layout.attributionRoot + path).ino;
  } catch {
    return 0;
  }
}

/**
 * One cgroup's usage. Values the hierarchy does not have read as 0. On
 * v1/hybrid the path is looked up in each controller's own hierarchy; where a
 * controller has no such group (it was never created there) its value is 0.
 */
export function readCgroupUsage(layout: CgroupLayout, path: string): CgroupUsage {
  const z = (v: number) => (Number.isFinite(v) ? v : 0);
  if (layout.version === "v2") {
    const dir = layout.root + path;
    const cpu = readText(`${dir}/${CGROUP_V2.cpuStat}`);
    const io = readText(`${dir}/${CGROUP_V2.ioStat}`);
    let pids = readNumber(`${dir}/${CGROUP_V2.pidsCurrent}`);
    if (!Number.isFinite(pids)) pids = countLines(readText(`${dir}/${CGROUP_V2.procs}`));
    return {
      path,
      memoryBytes: z(readNumber(`${dir}/${CGROUP_V2.memoryCurrent}`)),
      cpuUsageUs: z(cpu === undefined ? NaN : parseCpuStatUsageUs(cpu)),
      ioBytes: z(io === undefined ? NaN : parseIoStatBytes(io)),
      pids,
    };
  }
  const r = layout.root;
  const blk =
    readText(`${r}/${CGROUP_V1.blkioDir}${path}/${CGROUP_V1.blkioServiceBytesRecursive}`) ??
    readText(`${r}/${CGROUP_V1.blkioDir}${path}/${CGROUP_V1.blkioServiceBytes}`);
  let pids = readNumber(`${r}/${CGROUP_V1.pidsDir}${path}/${CGROUP_V1.pidsCurrent}`);
  if (!Number.isFinite(pids)) pids = countLines(readText(`${r}/${CGROUP_V1.memoryDir}${path}/${CGROUP_V1.procs}`));
  return {
    path,
    memoryBytes: z(readNumber(`${r}/${CGROUP_V1.memoryDir}${path}/${CGROUP_V1.memoryUsage}`)),
    // cpuacct.usage is in nanoseconds.
    cpuUsageUs: z(Math.floor(readNumber(`${r}/${CGROUP_V1.cpuacctDir}${path}/${CGROUP_V1.cpuacctUsage}`) / 1000)),
    ioBytes: z(blk === undefined ? NaN : parseBlkioServiceBytes(blk)),
    pids,
  };
}
