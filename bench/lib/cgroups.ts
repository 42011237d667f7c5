// The benchmark's own cgroups, created only under the cgroup this process is
// in (per controller, read from /proc/self/cgroup), removed when done. On a
// hybrid host (v1 controllers, cgroup2 without memory) every v1 controller
// gets its own directory of the same relative name.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";

export const CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"] as const;
export type Controller = (typeof CONTROLLERS)[number];

const CGROUP_ROOT = "/sys/fs/cgroup";

/** Where this process sits in each v1 controller: `memory` -> `/process_api/abc`. */
export function ownCgroupPaths(procSelfCgroup = readFileSync("/proc/self/cgroup", "utf8")): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of procSelfCgroup.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1].split(",")) if (c) out.set(c, m[2]);
  }
  return out;
}

/**
 * One relative path that is inside this process's cgroup in every controller
 * (the deepest own path, when the others are its ancestors), so the bench's
 * cgroups have the same name in each hierarchy, as an agent that maps a
 * memory-hierarchy path onto the cpu hierarchy expects; null when none is.
 */
export function commonBase(paths: string[]): string | null {
  const deepest = paths.reduce((a, b) => (b.length > a.length ? b : a), "/");
  const under = (p: string) => p === "/" || deepest === p || deepest.startsWith(`${p}/`);
  return paths.every(under) ? deepest : null;
}

/** Why the harness cannot run here, or null when v1 controllers are mounted as it needs. */
export function cgroupSupport(): string | null {
  if (process.getuid?.() !== 0) return "needs root to create cgroups";
  for (const c of CONTROLLERS) {
    if (!existsSync(`${CGROUP_ROOT}/${c}/cgroup.procs`)) return `no cgroup v1 "${c}" controller at ${CGROUP_ROOT}/${c}`;
  }
  return null;
}

export interface CgroupUsageNow {
  memoryBytes: number;
  cpuUsageNs: number;
  pids: number;
  ioBytes: number;
  oomKills: number;
}

/** One cgroup of the benchmark, present in every controller. */
export class BenchCgroup {
  readonly dirs: Record<Controller, string>;
  /** Directories made in the cgroup2 tree by unifiedProcs(), deepest first; removed by destroy(). */
  private readonly unifiedMade: string[] = [];
  constructor(
    readonly name: string,
    dirs: Record<Controller, string>,
  ) {
    this.dirs = dirs;
  }

  /** Path of this cgroup in `controller`, relative to that hierarchy's root. */
  relPath(controller: Controller): string {
    return this.dirs[controller].slice(`${CGROUP_ROOT}/${controller}`.length) || "/";
  }

  write(controller: Controller, file: string, value: string): void {
    writeFileSync(`${this.dirs[controller]}/${file}`, value);
  }

  read(controller: Controller, file: string): string {
    try {
      return readFileSync(`${this.dirs[controller]}/${file}`, "utf8");
    } catch {
      return "";
    }
  }

  setMemoryLimit(bytes: number): void {
    this.write("memory", "memory.limit_in_bytes", String(bytes));
  }

  setPidsMax(n: number): void {
    this.write("pids", "pids.max", String(n));
  }

  /** Shell words that move the shell itself into this cgroup before it execs the workload. */
  procsFiles(): string[] {
    return CONTROLLERS.map((c) => `${this.dirs[c]}/cgroup.procs`);
  }

  /**
   * The cgroup.procs of a directory of the same relative path in the cgroup2
   * tree of a hybrid host (/sys/fs/cgroup/unified), made here (and removed by
   * destroy()): where a process's CPU and I/O stall (cpu.pressure,
   * io.pressure) are read for a cgroup hosa was told is latency-sensitive.
   * Null where there is no such tree.
   */
  unifiedProcs(): string | null {
    const unified = `${CGROUP_ROOT}/unified`;
    if (!existsSync(`${unified}/cgroup.procs`)) return null;
    const want = `${unified}${this.relPath("memory")}`;
    const missing: string[] = [];
    for (let d = want; !existsSync(d); d = d.slice(0, d.lastIndexOf("/"))) missing.unshift(d);
    for (const d of missing) {
      mkdirSync(d);
      this.unifiedMade.unshift(d);
    }
    return `${want}/cgroup.procs`;
  }

  pids(): number[] {
    const seen = new Set<number>();
    for (const c of CONTROLLERS) {
      for (const l of this.read(c, "cgroup.procs").split("\n")) if (l.trim()) seen.add(Number(l));
    }
    return [...seen];
  }

  oomKills(): number {
    const m = /oom_kill (\d+)/.exec(this.read("memory", "memory.oom_control"));
    return m ? Number(m[1]) : 0;
  }

  usage(): CgroupUsageNow {
    const num = (s: string) => Number(s.trim()) || 0;
    const io = /^Total (\d+)/m.exec(this.read("blkio", "blkio.throttle.io_service_bytes_recursive"));
    return {
      memoryBytes: num(this.read("memory", "memory.usage_in_bytes")),
      cpuUsageNs: num(this.read("cpuacct", "cpuacct.usage")),
      pids: num(this.read("pids", "pids.current")),
      // v1 blkio reads 0 on this hybrid 6.18 host: the live processes' /proc/<pid>/io then stands in.
      ioBytes: io && Number(io[1]) > 0 ? Number(io[1]) : this.procIoBytes(),
      oomKills: this.oomKills(),
    };
  }

  /** Bytes read and written to storage by the processes now inside (man 5 proc: read_bytes, write_bytes). */
  procIoBytes(): number {
    let sum = 0;
    for (const l of this.read("memory", "cgroup.procs").split("\n")) {
      if (!l.trim()) continue;
      try {
        const t = readFileSync(`/proc/${l.trim()}/io`, "utf8");
        sum += Number(/^read_bytes: (\d+)/m.exec(t)?.[1] ?? 0) + Number(/^write_bytes: (\d+)/m.exec(t)?.[1] ?? 0);
      } catch {}
    }
    return sum;
  }

  /** SIGKILL every process left inside (all were started by the benchmark), then remove the directories. */
  async destroy(timeoutMs = 10000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      if (performance.now() > deadline) break;
      await Bun.sleep(50);
    }
    for (const dir of [...CONTROLLERS.map((c) => this.dirs[c]), ...this.unifiedMade.splice(0)]) {
      for (let i = 0; i < 100; i++) {
        try {
          if (existsSync(dir)) rmdirSync(dir);
          break;
        } catch {
          await Bun.sleep(50);
        }
      }
    }
  }
}

/** The benchmark's root cgroup (`hosa-bench-<pid>` under this process's own cgroups) and its children. */
export class BenchCgroups {
  readonly rootName: string;
  private readonly roots: Record<Controller, string>;
  private readonly children = new Map<string, BenchCgroup>();

  private readonly madeDirs: string[] = [];

  constructor(tag = `hosa-bench-${process.pid}`) {
    const own = ownCgroupPaths();
    this.rootName = tag;
    const base = commonBase(CONTROLLERS.map((c) => own.get(c) ?? "/"));
    const roots = {} as Record<Controller, string>;
    for (const c of CONTROLLERS) {
      const rel = base ?? own.get(c) ?? "/";
      roots[c] = `${CGROUP_ROOT}/${c}${rel === "/" ? "" : rel}/${tag}`;
      this.mkdirs(roots[c]);
    }
    // v1 memory: charge children to this root too, so its usage is the bench's whole.
    try {
      writeFileSync(`${roots.memory}/memory.use_hierarchy`, "1");
    } catch {}
    this.roots = roots;
  }

  private mkdirs(dir: string): void {
    const missing: string[] = [];
    for (let d = dir; !existsSync(d); d = d.slice(0, d.lastIndexOf("/"))) missing.unshift(d);
    for (const d of missing) {
      mkdirSync(d);
      this.madeDirs.unshift(d);
    }
  }

  /** Path of the bench root in `controller`, relative to the hierarchy root. */
  rootRelPath(controller: Controller): string {
    return this.roots[controller].slice(`${CGROUP_ROOT}/${controller}`.length);
  }

  create(name: string): BenchCgroup {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`bad cgroup name ${name}`);
    const dirs = {} as Record<Controller, string>;
    for (const c of CONTROLLERS) {
      dirs[c] = `${this.roots[c]}/${name}`;
      mkdirSync(dirs[c], { recursive: true });
    }
    const cg = new BenchCgroup(name, dirs);
    this.children.set(name, cg);
    return cg;
  }

  async remove(cg: BenchCgroup): Promise<void> {
    await cg.destroy();
    this.children.delete(cg.name);
  }

  async destroyAll(): Promise<void> {
    for (const cg of [...this.children.values()]) await this.remove(cg);
    const root = new BenchCgroup(this.rootName, this.roots);
    await root.destroy();
    // Directories made on the way to the root (only ours, deepest first); one still in use stays.
    for (const d of this.madeDirs) {
      try {
        rmdirSync(d);
      } catch {}
    }
  }
}

/**
 * argv that starts `cmd` inside `cg` from its first instruction: a shell
 * moves itself into every controller's cgroup.procs (and into `alsoProcs`,
 * e.g. its cgroup2 directory from unifiedProcs()), then execs the command.
 */
export function argvInCgroup(cg: BenchCgroup, cmd: string[], alsoProcs: string[] = []): string[] {
  const moves = [...cg.procsFiles(), ...alsoProcs]
    .map((f) => `echo $$ > '${f}' || exit 97;`)
    .join(" ");
  return ["/bin/sh", "-c", `${moves} exec "$@"`, "sh", ...cmd];
}
