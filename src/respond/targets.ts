// Who gets contained: the dominant dimensions of the decision crossed with
// the cgroups whose consumption of that resource grew most since the last
// call (document 004 §10.3), minus the safelist (§10.2), which nothing here
// ever touches.
import type { Decision } from "../engine/types.ts";
import { cgroupOfPid, commOf, hasControllingTty, PF_KTHREAD, readPidStat } from "../kernel/proc.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { type CgroupFs, hierarchyDir, readPids } from "../kernel/cgroupfs.ts";
import { type CgroupLayout } from "../kernel/cgroups.ts";
import { type V1Controller } from "../kernel/files.ts";

export type Resource = "memory" | "cpu" | "io" | "pids";

/** Orchestration and access agents: throttling them does more harm than the anomaly (004 §10.1). */
export const PROTECTED_COMMS = ["kubelet", "containerd", "dockerd", "sshd"] as const;

const RESOURCE_TOKENS: Record<Resource, string[]> = {
  memory: ["mem", "memory", "page", "pgfault", "pgmajfault", "faults", "brk", "mmap", "swap", "oom", "rss", "anon"],
  cpu: ["cpu", "sched", "runq", "runqueue", "ctxt", "fork", "forks", "wakeup", "wakeups", "load", "procs"],
  io: ["io", "disk", "block", "blk", "sectors", "diskstats"],
  pids: [],
};

/** Which cgroup resource a dimension speaks for, from the words of its name (`psi_mem_some` → memory); null for network dims. */
export function resourceOfDim(dim: string): Resource | null {
  // Token match, not substring: "mem_used_ratio" contains "io" but is not I/O.
  const tokens = dim.toLowerCase().split(/[^a-z0-9]+/);
  for (const tok of tokens) {
    for (const r of ["memory", "cpu", "io"] as Resource[]) if (RESOURCE_TOKENS[r].includes(tok)) return r;
  }
  return null;
}

/** Resources carried by the decision's dominant dimensions, largest share first (at least the top one, others from 20 %). */
export function dominantResources(decision: Decision): Resource[] {
  const share = new Map<Resource, number>();
  for (const c of decision.dominant) {
    const r = resourceOfDim(c.dim);
    if (r) share.set(r, (share.get(r) ?? 0) + c.share);
  }
  const sorted = [...share.entries()].sort((a, b) => b[1] - a[1]);
  return sorted.filter(([, s], i) => i === 0 || s >= 0.2).map(([r]) => r);
}

export interface Target {
  /** Cgroup path as CgroupUsage gives it ("/a/b"; on v1/hybrid a memory-hierarchy path). */
  path: string;
  resource: Resource;
  /** Growth of the resource since the previous call (bytes, µs, bytes). */
  delta: number;
  /** The same per second. */
  ratePerS: number;
  usage: CgroupUsage;
  /** Why it was chosen, for the decision log (the danger's evidence). */
  evidence?: string;
}

export interface SafelistContext {
  fs: CgroupFs;
  layout: CgroupLayout;
  procRoot: string;
  selfPid: number;
  /** Operator entries: process names, or cgroup paths (starting with "/"). */
  safelist: string[];
  /** Only paths at or under this one ("" = anywhere). */
  scope: string;
}

const FIELD: Record<Resource, keyof CgroupUsage> = { memory: "memoryBytes", cpu: "cpuUsageUs", io: "ioBytes", pids: "pids" };

/** A path is at or under another: "/a/b" is under "/a", "/ab" is not. */
export function isUnder(path: string, parent: string): boolean {
  const p = norm(path);
  const q = norm(parent);
  return q === "/" || p === q || p.startsWith(`${q}/`);
}

export function norm(path: string): string {
  const p = `/${path.replace(/^\/+|\/+$/g, "")}`;
  return p;
}

/** Why a cgroup may never be touched, or null. `controller` picks the hierarchy on v1 (the path is in it). */
export function safelistReason(path: string, ctx: SafelistContext, controller: V1Controller = "memory"): string | null {
  return safelistPathReason(path, ctx, controller) ?? safelistProcessReason(path, ctx, controller);
}

/** The safelist's part that needs no process of the cgroup: root, scope, hosa's and PID 1's cgroups, safelisted paths. */
export function safelistPathReason(path: string, ctx: SafelistContext, controller: V1Controller = "memory"): string | null {
  const p = norm(path);
  if (p === "/") return "root cgroup";
  if (ctx.scope && !isUnder(p, ctx.scope)) return `outside respond.cgroup_scope ${ctx.scope}`;
  // A cgroup holding hosa (or PID 1) anywhere below it throttles hosa too.
  const self = cgroupOfPid(ctx.procRoot, ctx.selfPid, ctx.layout, controller);
  if (self && isUnder(self, p)) return "hosa's own cgroup";
  const init = cgroupOfPid(ctx.procRoot, 1, ctx.layout, controller);
  if (init && isUnder(init, p)) return "PID 1's cgroup";
  for (const entry of ctx.safelist) {
    if (entry.startsWith("/") && isUnder(p, entry)) return `safelisted in hosa.toml (${entry})`;
  }
  return null;
}

/** The safelist's part on each process of the cgroup: hosa, PID 1, kernel threads, protected and safelisted names. */
function safelistProcessReason(path: string, ctx: SafelistContext, controller: V1Controller): string | null {
  const p = norm(path);
  const names = ctx.safelist.filter((e) => !e.startsWith("/"));
  for (const pid of readPids(ctx.fs, hierarchyDir(ctx.layout, controller, p))) {
    if (pid === ctx.selfPid) return "hosa's own cgroup";
    if (pid === 1) return "PID 1's cgroup";
    // One read per process (a fork storm has a thousand): /proc/<pid>/stat has both its flags and its name.
    const st = readPidStat(ctx.procRoot, pid);
    if (!st) continue;
    if ((st.flags & PF_KTHREAD) !== 0) return `kernel thread ${pid}`;
    const comm = st.comm;
    if (!comm) continue;
    if (PROTECTED_COMMS.some((n) => comm === n || comm.startsWith(`${n}-`))) return `protected process ${comm} (${pid})`;
    if (names.includes(comm)) return `safelisted process ${comm} (${pid})`;
  }
  return null;
}

/**
 * Why a cgroup holds an interactive session, which is never frozen nor
 * stopped: a systemd login session scope, or a process with a controlling
 * terminal (an operator's shell). null when it holds none.
 */
export function interactiveReason(path: string, ctx: Pick<SafelistContext, "fs" | "layout" | "procRoot">): string | null {
  if (/\/session-[^/]+\.scope(\/|$)/.test(path)) return "an interactive login session";
  for (const pid of readPids(ctx.fs, hierarchyDir(ctx.layout, "memory", path))) {
    if (hasControllingTty(ctx.procRoot, pid)) return `interactive process ${commOf(ctx.procRoot, pid) ?? "?"} (${pid}) with a controlling terminal`;
  }
  return null;
}

export interface Selection {
  targets: Target[];
  /** Candidates that grew but were left alone, with why. */
  skipped: { path: string; reason: string }[];
}

/**
 * The contributors for each dominant resource: cgroups ranked by growth, a
 * parent dropped when a child explains at least half of its growth (usage is
 * hierarchical, the parent of a leak grows as fast as the leak), then the
 * safelist; up to 3 per resource, each growing at least a quarter of the top.
 */
export function selectTargets(decision: Decision, prev: CgroupUsage[], cur: CgroupUsage[], dtS: number, ctx: SafelistContext): Selection {
  const targets: Target[] = [];
  const skipped: Selection["skipped"] = [];
  const before = new Map(prev.map((u) => [norm(u.path), u]));
  for (const resource of dominantResources(decision)) {
    const field = FIELD[resource];
    const grew = cur
      .map((u) => {
        const b = before.get(norm(u.path));
        return { u, path: norm(u.path), delta: b ? (u[field] as number) - (b[field] as number) : 0 };
      })
      .filter((c) => c.delta > 0)
      .sort((a, b) => b.delta - a.delta);
    // Sorted by growth, so the descendants that could explain c are in the
    // prefix growing at least half as much: O(top × prefix), not O(n²).
    const explainedByChild = (c: (typeof grew)[number]) => {
      const prefix = c.path === "/" ? "/" : `${c.path}/`;
      for (const d of grew) {
        if (d.delta < 0.5 * c.delta) break;
        if (d !== c && d.path.startsWith(prefix)) return true;
      }
      return false;
    };
    const leaves = grew.slice(0, 32).filter((c) => !explainedByChild(c));
    let top = 0;
    let taken = 0;
    for (const c of leaves) {
      if (taken >= 3 || (top > 0 && c.delta < 0.25 * top)) break;
      const why = safelistReason(c.path, ctx);
      if (why) {
        skipped.push({ path: c.path, reason: why });
        continue;
      }
      if (top === 0) top = c.delta;
      taken++;
      targets.push({ path: c.path, resource, delta: c.delta, ratePerS: dtS > 0 ? c.delta / dtS : 0, usage: c.u });
    }
  }
  return { targets, skipped };
}
