// The reflex: a decision's level turned into proportional, reversible actions
// on the contributors' cgroups (document 004 §5-§8, §10-§11). Every write is
// journaled with the value it replaces before it happens; relaxation on the
// way down goes in steps over respond.relax_s, never all at once.
//
// Level 1: nothing here (faster sampling is the agent's).
// Level 2: cpu.weight (v1 cpu.shares) of the contributors to a quarter.
// Level 3: memory.high (v1: ceiling that rises slowly, OOM killer off),
//          cpu.max (v1 cfs_quota_us), io.max (v1 blkio.throttle.*), XDP shed-new.
// Level 4: memory.max (v1: the ceiling stops rising), freeze the contributors,
//          XDP block-all.
// Level 5: quarantine (src/respond/quarantine.ts), XDP isolate.
import type { HosaConfig } from "../config.ts";
import { DEFAULT_DANGER_HORIZON_S } from "../engine/danger.ts";
import type { Danger, Decision, Level } from "../engine/types.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { CG, type CgroupFs, type CgroupLayout, createCgroupFs, detectLayout, hierarchyDir, readPids, type V1Controller } from "./cgroupfs.ts";
import { Journal } from "./journal.ts";
import { enterQuarantine, extendQuarantine, type QuarantineDeps, readQuarantineState } from "./quarantine.ts";
import { type OpenXdp, type XdpControl, journalPath, readCurrent, restoreChanges } from "./restore.ts";
import { cgroupOfPid, interactiveReason, norm, type Resource, type SafelistContext, safelistReason, selectTargets, type Target } from "./targets.ts";
import type { ActionRecord, Responder } from "./types.ts";

const MIB = 1024 * 1024;
const PAGE = 4096;
/** v1 stand-in for memory.high: the ceiling rises this fast while contained, so the leak crawls instead of dying. */
export const V1_CEILING_RISE_BYTES_PER_S = 2 * MIB;
/** Relaxation goes in this many steps over respond.relax_s. */
export const RELAX_STEPS = 3;
const CPU_PERIOD_US = 100000;
/** Danger must have been gone this long before containment relaxes: one noisy tick is not the end of it. */
export const DANGER_GONE_S = 1;

export interface ResponderDeps {
  fs?: CgroupFs;
  procRoot?: string;
  /** hosa's own PID (safelisted with its cgroup). */
  selfPid?: number;
  journal?: Journal;
  /** src/respond/xdp.ts openXdp and detachXdp, when XDP is wanted. */
  openXdp?: OpenXdp;
  detachXdp?: (ifname: string) => boolean;
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  /** Danger further than this does not slow anyone (engine.danger_horizon_s), seconds. */
  dangerHorizonS?: number;
  /** Quarantine environment, snapshot and Kubernetes hooks; see quarantine.ts. */
  quarantine?: Partial<QuarantineDeps>;
}

type Policy = "off" | "shed-new" | "block-all" | "isolate" | "rate-new";

interface Managed {
  key: string;
  /** Contributor cgroup path (CgroupUsage path). */
  target: string;
  dir: string;
  file: string;
  dev?: string;
  /** Level whose action this is; relaxed when the level goes below it. */
  layer: number;
  /** Value to put back. */
  orig: string;
  /** Value hosa last wrote (or would have, detection-only). */
  value: string;
  mode: "fixed" | "rising" | "relaxing";
  lastStepT: number;
  relax?: { from: string; startT: number; done: number; steps: number };
  /** Restored only after this key is gone (v1 oom_control waits for its ceiling). */
  after?: string;
}

const pageUp = (n: number) => Math.ceil(n / PAGE) * PAGE;
const headroom = (usage: number) => pageUp(Math.max(16 * MIB, usage * 0.02));

/** A value restored in `steps`: linear when both ends are numbers, growing toward "max"/-1 otherwise. */
export function relaxValue(file: string, from: string, to: string, k: number, steps: number): string {
  if (k >= steps) return to;
  if (file === CG.freeze || file === CG.freezerState || file === CG.oomControl || file === CG.ioMax || file.startsWith("blkio.")) return from;
  const [f0, ...fRest] = from.split(" ");
  const [t0] = to.split(" ");
  const a = Number(f0);
  const b = Number(t0);
  if (!Number.isFinite(a)) return from;
  const unbounded = !Number.isFinite(b) || b < 0 || b > 2 ** 50;
  let v = unbounded ? a * 2 ** k : a + ((b - a) * k) / steps;
  if (file === CG.memoryHigh || file === CG.memoryMax || file === CG.memoryLimit) v = pageUp(v);
  v = Math.round(v);
  return [String(v), ...fRest].join(" ");
}

export function createResponder(cfg: HosaConfig, deps: ResponderDeps = {}): Responder {
  const fs = deps.fs ?? createCgroupFs(cfg.sense.cgroupRoot);
  const procRoot = deps.procRoot ?? cfg.sense.procRoot;
  const layout: CgroupLayout = detectLayout(fs);
  const act = cfg.respond.mode === "act";
  const journal = deps.journal ?? Journal.open(journalPath(cfg));
  const kill = deps.kill ?? ((pid: number, sig: NodeJS.Signals) => process.kill(pid, sig));
  const ctx: SafelistContext = {
    fs,
    layout,
    procRoot,
    selfPid: deps.selfPid ?? process.pid,
    safelist: cfg.respond.safelist,
    scope: cfg.respond.cgroupScope,
  };
  const xdpOpts = { healthcheck: cfg.respond.healthcheckSources, management: cfg.respond.managementSources };

  let level: Level = 0;
  let prevUsage: CgroupUsage[] = [];
  let prevT = Number.NaN;
  let lastT = 0;
  const managed = new Map<string, Managed>();
  const targets = new Map<string, Target>();
  const liveXdp = new Map<string, XdpControl>();
  let xdpPolicy: Policy = "off";
  let xdpUnavailable = "";
  let xdpOffAtT: number | null = null;
  let seq = 0;
  const recent: Decision[] = [];
  const inForceRecords = new Map<string, ActionRecord>();
  let quarantined = false;
  const horizonS = deps.dangerHorizonS ?? cfg.engine.dangerHorizonS ?? DEFAULT_DANGER_HORIZON_S;
  let lastDanger: Danger | null = null;
  let lastDangerT = Number.NEGATIVE_INFINITY;
  /** Danger targets the safelist refused, said once per episode. */
  const refused = new Set<string>();

  const newId = (t: number) => `a${Math.round(t * 1000)}-${++seq}`;
  const rec = (t: number, lvl: number, kind: ActionRecord["kind"], target: string, action: string, outcome: string): ActionRecord => ({
    id: newId(t),
    t,
    level: lvl,
    kind,
    target,
    action,
    outcome,
  });

  /** The directory of a contributor in one controller's hierarchy, or why there is none. */
  function dirFor(target: string, controller: V1Controller): { dir: string } | { skip: string } {
    if (layout === "v2" || controller === "memory") return { dir: hierarchyDir(layout, controller, target) };
    // v1/hybrid: each controller is its own tree; follow the processes.
    const paths = new Set<string>();
    for (const pid of readPids(fs, hierarchyDir(layout, "memory", target))) {
      const p = cgroupOfPid(procRoot, pid, layout, controller);
      if (p) paths.add(p);
    }
    if (paths.size === 0) return { skip: `no processes to find its ${controller} cgroup` };
    if (paths.size > 1) return { skip: `its processes are in ${paths.size} different ${controller} cgroups` };
    const p = [...paths][0];
    // respond.cgroup_scope names a path in the attribution hierarchy, already checked on the target.
    const why = safelistReason(p, { ...ctx, scope: "" }, controller);
    if (why) return { skip: `${controller} cgroup ${p}: ${why}` };
    return { dir: hierarchyDir(layout, controller, p) };
  }

  /** Write one value (journal first), or say what would be written. Returns the record. */
  function writeManaged(m: Managed, value: string, t: number, lvl: number, first: boolean): ActionRecord {
    const label = `${m.file}${m.dev ? ` ${m.dev}` : ""} ${m.value}→${value}`;
    if (!act) {
      m.value = value;
      return rec(t, lvl, "cgroup", m.target, label, "would apply (detection-only)");
    }
    if (!first) {
      const cur = readCurrent(fs, m.dir, m.file, m.dev);
      if (cur === m.orig && value === m.orig) {
        managed.delete(m.key);
        inForceRecords.delete(m.key);
        journal.append({ op: "done", key: m.key, outcome: "already restored" });
        return rec(t, lvl, "cgroup", m.target, label, "restored (already at the original value)");
      }
      if (cur === undefined) {
        managed.delete(m.key);
        inForceRecords.delete(m.key);
        journal.append({ op: "done", key: m.key, outcome: "cgroup gone" });
        return rec(t, lvl, "cgroup", m.target, label, "skipped: cgroup gone");
      }
      if (cur !== m.value) {
        managed.delete(m.key);
        inForceRecords.delete(m.key);
        journal.append({ op: "done", key: m.key, outcome: "changed by someone else" });
        return rec(t, lvl, "cgroup", m.target, label, `skipped: changed by someone else since hosa wrote it (now ${cur ?? "gone"}, hosa wrote ${m.value}); left as is`);
      }
    }
    journal.append({ op: "set", id: newId(t), t, level: lvl, dir: m.dir, file: m.file, ...(m.dev ? { dev: m.dev } : {}), prev: m.orig, value });
    try {
      fs.write(m.dir, m.file, value);
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      if (first) {
        managed.delete(m.key);
        journal.append({ op: "done", key: m.key, outcome: "write failed" });
      }
      return rec(t, lvl, "cgroup", m.target, label, `failed: ${msg}`);
    }
    m.value = value;
    return rec(t, lvl, "cgroup", m.target, label, "applied");
  }

  /** Take over a file at a level with a new value (or re-tighten one hosa already holds). */
  function impose(out: ActionRecord[], t: number, lvl: number, target: string, controller: V1Controller, file: string, compute: (orig: string) => string | null, opts: { dev?: string; mode?: Managed["mode"]; after?: string } = {}): void {
    const d = dirFor(target, controller);
    if ("skip" in d) {
      out.push(rec(t, lvl, "cgroup", target, file, `skipped: ${d.skip}`));
      return;
    }
    const key = `cgroup:${d.dir}/${file}${opts.dev ? `@${opts.dev}` : ""}`;
    const had = managed.get(key);
    const orig = had?.orig ?? readCurrent(fs, d.dir, file, opts.dev);
    if (orig === undefined) {
      out.push(rec(t, lvl, "cgroup", target, file, `skipped: ${file} not present (controller not enabled here)`));
      return;
    }
    const value = compute(orig);
    if (value === null) return;
    if (had && had.value === value && had.mode !== "relaxing") {
      had.layer = Math.max(had.layer, lvl);
      had.mode = opts.mode ?? "fixed";
      return;
    }
    const m: Managed = had ?? { key, target, dir: d.dir, file, dev: opts.dev, layer: lvl, orig, value: orig, mode: "fixed", lastStepT: t, after: opts.after };
    m.layer = had ? Math.max(had.layer, lvl) : lvl;
    m.mode = opts.mode ?? "fixed";
    m.relax = undefined;
    m.lastStepT = t;
    managed.set(key, m);
    const r = writeManaged(m, value, t, lvl, !had);
    if (!r.outcome.startsWith("applied") && !r.outcome.startsWith("would")) managed.delete(key);
    else if (r.outcome === "applied") inForceRecords.set(key, r);
    out.push(r);
  }

  function usageNow(target: Target): number {
    if (layout === "v1") {
      const raw = fs.read(hierarchyDir(layout, "memory", target.path), CG.memoryUsage);
      const n = raw === undefined ? Number.NaN : Number(raw.trim());
      return Number.isFinite(n) ? n : target.usage.memoryBytes;
    }
    const raw = fs.read(target.path.replace(/^\/+/, ""), CG.memoryCurrent);
    const n = raw === undefined ? Number.NaN : Number(raw.trim());
    return Number.isFinite(n) ? n : target.usage.memoryBytes;
  }

  /** Devices a contributor has done I/O on, from io.stat (v2) or blkio.throttle.io_service_bytes (v1). */
  function ioDevices(target: string): { dir: string; devs: string[] } | { skip: string } {
    const d = dirFor(target, "blkio");
    if ("skip" in d) return d;
    const raw = fs.read(d.dir, layout === "v2" ? CG.ioStat : CG.blkioServiceBytes) ?? "";
    const devs = new Set<string>();
    for (const line of raw.split("\n")) {
      const m = /^(\d+:\d+)\s+(.*)$/.exec(line.trim());
      if (!m) continue;
      // v2 "rbytes=1048576 wbytes=0 ...", v1 "Read 1048576": any non-zero count.
      if (m[2].split(/\s+/).some((tok) => /[1-9]/.test(tok.replace(/^\D+/, "")))) devs.add(m[1]);
    }
    return { dir: d.dir, devs: [...devs] };
  }

  /** Why the cgroup may not be frozen now (null: it may); set per decision by the danger gate. */
  let freezeVeto: ((target: Target) => string | null) | null = null;

  function applyLevel(out: ActionRecord[], t: number, lvl: number, target: Target): void {
    const p = target.path;
    if (lvl >= 2) {
      if (layout === "v2") impose(out, t, 2, p, "cpu", CG.cpuWeight, (o) => String(Math.max(1, Math.floor(Number(o) / 4))));
      else impose(out, t, 2, p, "cpu", CG.cpuShares, (o) => String(Math.max(2, Math.floor(Number(o) / 4))));
    }
    if (lvl >= 3 && target.resource === "memory") {
      const usage = usageNow(target);
      const ceiling = pageUp(usage + headroom(usage));
      const under = (o: string) => o === "max" || Number(o) > ceiling;
      if (layout === "v2") {
        impose(out, t, 3, p, "memory", CG.memoryHigh, (o) => (under(o) ? String(ceiling) : null));
      } else {
        // v1 has no memory.high. With the cgroup's OOM killer off, a task at
        // the limit sleeps in the charge path instead of being killed
        // (Documentation/admin-guide/cgroup-v1/memory.rst §10), and raising
        // the limit wakes it: a ceiling that rises slowly is a soft limit.
        const lim = hierarchyDir(layout, "memory", p);
        const limKey = `cgroup:${lim}/${CG.memoryLimit}`;
        impose(out, t, 3, p, "memory", CG.oomControl, (o) => (o === "1" ? null : "1"), { after: limKey });
        if (!act || readCurrent(fs, lim, CG.oomControl) === "1") {
          const held = managed.get(limKey);
          if (held && lvl === 3 && held.mode !== "relaxing") {
            held.mode = "rising";
            held.lastStepT = t;
          } else if (held && lvl >= 4 && held.mode !== "relaxing") {
            // Level 4 stops the ceiling where it is: recomputing it from usage would lift it a step.
            held.mode = "fixed";
            held.layer = Math.max(held.layer, 4);
          } else {
            impose(out, t, lvl >= 4 ? 4 : 3, p, "memory", CG.memoryLimit, (o) => (under(o) ? String(ceiling) : null), { mode: lvl >= 4 ? "fixed" : "rising" });
          }
        }
      }
    }
    if (lvl >= 3 && target.resource === "cpu") {
      const cpus = target.ratePerS / 1e6;
      const quota = Math.max(CPU_PERIOD_US / 10, Math.round((cpus / 2) * CPU_PERIOD_US));
      if (layout === "v2") impose(out, t, 3, p, "cpu", CG.cpuMax, (o) => (o.startsWith("max") || Number(o.split(" ")[0]) > quota ? `${quota} ${CPU_PERIOD_US}` : null));
      else {
        const d = dirFor(p, "cpu");
        const period = "dir" in d ? Number((fs.read(d.dir, CG.cfsPeriodUs) ?? "100000").trim()) : CPU_PERIOD_US;
        const q = Math.max(1000, Math.round((quota * period) / CPU_PERIOD_US));
        impose(out, t, 3, p, "cpu", CG.cfsQuotaUs, (o) => (Number(o) < 0 || Number(o) > q ? String(q) : null));
      }
    }
    if (lvl >= 3 && target.resource === "io") {
      const bps = Math.max(MIB, Math.round(target.ratePerS / 2));
      const io = ioDevices(p);
      if ("skip" in io) out.push(rec(t, 3, "cgroup", p, "io", `skipped: ${io.skip}`));
      else
        for (const dev of io.devs) {
          if (layout === "v2") impose(out, t, 3, p, "blkio", CG.ioMax, () => `${dev} rbps=${bps} wbps=${bps} riops=max wiops=max`, { dev });
          else {
            impose(out, t, 3, p, "blkio", CG.blkioReadBps, () => `${dev} ${bps}`, { dev });
            impose(out, t, 3, p, "blkio", CG.blkioWriteBps, () => `${dev} ${bps}`, { dev });
          }
        }
    }
    if (lvl >= 4) {
      if (target.resource === "memory" && layout === "v2") {
        const usage = usageNow(target);
        const max = pageUp(usage + 2 * headroom(usage));
        impose(out, t, 4, p, "memory", CG.memoryMax, (o) => (o === "max" || Number(o) > max ? String(max) : null));
      }
      const why = freezeVeto?.(target);
      if (why) out.push(rec(t, 4, "cgroup", p, "freeze", `skipped: ${why}`));
      else if (layout === "v2") impose(out, t, 4, p, "freezer", CG.freeze, (o) => (o === "1" ? null : "1"));
      else impose(out, t, 4, p, "freezer", CG.freezerState, (o) => (o === "FROZEN" ? null : "FROZEN"));
    }
  }

  function setXdp(out: ActionRecord[], t: number, lvl: number, policy: Policy): void {
    const ifname = cfg.respond.xdpInterface;
    if (!ifname || policy === xdpPolicy) return;
    const label = `xdp ${xdpPolicy}→${policy}`;
    if (!act) {
      xdpPolicy = policy;
      out.push(rec(t, lvl, "xdp", ifname, label, "would apply (detection-only)"));
      return;
    }
    if (xdpUnavailable) return;
    try {
      let ctl = liveXdp.get(ifname);
      if (!ctl) {
        if (policy === "off") return;
        if (!deps.openXdp) throw new Error("XDP is not available in this build; only cgroup actions are");
        journal.append({ op: "xdp", id: newId(t), t, level: lvl, ifname, policy, prev: xdpPolicy });
        ctl = deps.openXdp(ifname, xdpOpts);
        liveXdp.set(ifname, ctl);
      } else if (policy !== "off") {
        journal.append({ op: "xdp", id: newId(t), t, level: lvl, ifname, policy, prev: xdpPolicy });
      }
      ctl.set(policy);
      if (policy === "off") {
        ctl.close();
        liveXdp.delete(ifname);
        journal.append({ op: "done", key: `xdp:${ifname}`, outcome: "restored" });
        inForceRecords.delete(`xdp:${ifname}`);
        out.push(rec(t, lvl, "xdp", ifname, label, "restored"));
      } else {
        const r = rec(t, lvl, "xdp", ifname, `${label} (${ctl.mode()})`, "applied");
        inForceRecords.set(`xdp:${ifname}`, r);
        out.push(r);
      }
      xdpPolicy = policy;
    } catch (e) {
      xdpUnavailable = (e as Error).message.split("\n")[0];
      journal.append({ op: "done", key: `xdp:${ifname}`, outcome: "attach failed" });
      out.push(rec(t, lvl, "xdp", ifname, label, `failed: ${xdpUnavailable}`));
    }
  }

  /** Rising v1 ceilings and relaxation steps that are due at time t. */
  function tick(out: ActionRecord[], t: number): void {
    if (xdpOffAtT !== null && t >= xdpOffAtT && level < 3) {
      xdpOffAtT = null;
      setXdp(out, t, level, "off");
    }
    for (const m of [...managed.values()]) {
      if (m.mode === "rising" && act && t - m.lastStepT >= 1) {
        const origN = Number(m.orig);
        const next = Math.min(pageUp(Number(m.value) + V1_CEILING_RISE_BYTES_PER_S * (t - m.lastStepT)), origN);
        m.lastStepT = t;
        if (next > Number(m.value)) out.push(writeManaged(m, String(next), t, level, false));
      } else if (m.mode === "relaxing" && m.relax) {
        if (m.after && managed.has(m.after)) continue;
        const r = m.relax;
        const stepS = cfg.respond.relaxS / r.steps;
        const due = stepS <= 0 ? r.steps : Math.min(r.steps, Math.floor((t - r.startT) / stepS + 1e-9));
        // A freeze is lifted at once: the levels below still hold the leak.
        const k = m.file === CG.freeze || m.file === CG.freezerState ? r.steps : due;
        if (k <= r.done) continue;
        r.done = k;
        const value = relaxValue(m.file, r.from, m.orig, k, r.steps);
        if (k >= r.steps) {
          const rr = writeManaged(m, value, t, level, false);
          if (rr.outcome === "applied" || rr.outcome.startsWith("would")) {
            rr.outcome = act ? "restored" : "would restore (detection-only)";
            if (act) journal.append({ op: "done", key: m.key, outcome: "restored" });
            managed.delete(m.key);
            inForceRecords.delete(m.key);
          }
          out.push(rr);
        } else if (value !== m.value) out.push(writeManaged(m, value, t, level, false));
      }
    }
    if (act && managed.size === 0 && liveXdp.size === 0 && !quarantined && level === 0 && seq > 0) compactIfClean();
  }

  let compacted = true;
  function compactIfClean(): void {
    if (compacted) return;
    journal.compact([]);
    compacted = true;
  }

  function startRelax(t: number, newLevel: number): void {
    for (const m of managed.values()) {
      if (m.layer <= newLevel || m.mode === "relaxing") continue;
      // The v1 ceiling set at Level 4 keeps containing at Level 3, rising again.
      if (m.file === CG.memoryLimit && layout === "v1" && newLevel === 3) {
        m.mode = "rising";
        m.layer = 3;
        m.lastStepT = t;
        continue;
      }
      m.mode = "relaxing";
      m.relax = { from: m.value, startT: t, done: 0, steps: RELAX_STEPS };
    }
  }

  /**
   * Level 5 ends only through `hosa quarantine release` (or the watchdog),
   * which restored every journaled value from its own process. What this
   * responder still remembers is stale: forget it, and let the level the
   * engine holds at (3) contain afresh whatever still grows.
   */
  function forgetReleased(out: ActionRecord[], t: number, newLevel: number): void {
    let active = false;
    try {
      active = readQuarantineState(cfg)?.active ?? false;
    } catch {}
    if (active) return;
    for (const ctl of liveXdp.values()) {
      try {
        ctl.close();
      } catch {}
    }
    liveXdp.clear();
    managed.clear();
    inForceRecords.clear();
    targets.clear();
    xdpPolicy = "off";
    xdpOffAtT = null;
    quarantined = false;
    level = 0;
    out.push(rec(t, newLevel, "quarantine", "node", "quarantine released", "restored (by `hosa quarantine release`); containing afresh from this level"));
  }

  return {
    onDecision(decision: Decision, cgroups: CgroupUsage[], danger?: Danger): ActionRecord[] {
      const out: ActionRecord[] = [];
      const t = decision.t;
      lastT = t;
      recent.push(decision);
      if (recent.length > 50) recent.shift();
      const dtS = Number.isFinite(prevT) ? t - prevT : 0;
      let newLevel = decision.level;
      // The danger gate (docs/response.md § Danger gate): what slows a
      // workload needs a named cgroup heading to exhaustion, and acts on it
      // alone; quarantine needs containment failing on top. Once the danger
      // is gone, everything relaxes whatever the level says.
      let fresh: Target | null = null;
      if (danger !== undefined) {
        if (danger.cgroup && danger.ttfS < horizonS) {
          lastDanger = danger;
          lastDangerT = t;
        }
        const standing = lastDanger !== null && t - lastDangerT < DANGER_GONE_S ? lastDanger : null;
        const cap: Level = standing ? (standing.containmentFailing ? 5 : 4) : 1;
        // A quarantine in force stays until it is released.
        if (!(level === 5 && newLevel === 5) && newLevel > cap) newLevel = cap;
        freezeVeto = (tg) => {
          if (!standing || standing.cgroup !== tg.path) return "no danger trajectory on it";
          if (tg.resource === "memory" && !standing.containmentFailing) return "its memory ceiling holds it (freeze only when containment fails)";
          if (tg.resource === "cpu") return "CPU harm is held by a CPU quota, never by a freeze";
          return interactiveReason(tg.path, ctx);
        };
        if (standing && newLevel >= 2) {
          const resource: Resource = standing.resource.startsWith("pids") ? "pids" : standing.resource.startsWith("cpu") ? "cpu" : "memory";
          const key = `${standing.cgroup}#${resource}`;
          if (!targets.has(key)) {
            const path = standing.cgroup as string;
            const why = safelistReason(path, ctx);
            if (why) {
              if (!refused.has(key)) out.push(rec(t, newLevel, "cgroup", path, "danger target", `skipped: ${why}`));
              refused.add(key);
            } else {
              const usage = cgroups.find((u) => norm(u.path) === path) ?? { path, memoryBytes: 0, cpuUsageUs: 0, ioBytes: 0, pids: 0 };
              fresh = { path, resource, delta: 0, ratePerS: standing.ratePerS ?? 0, usage, evidence: standing.evidence };
              targets.set(key, fresh);
            }
          }
        }
      }
      if (level === 5 && newLevel < 5) forgetReleased(out, t, newLevel);
      // Ungated (no danger measured, as in the actuator tests): targets come
      // from growth between two calls; after a jump from Level 0 there may be
      // no earlier usage yet, so an empty target set is retried.
      const escalate = newLevel > level && newLevel >= 2;
      const retry = danger === undefined ? newLevel >= 2 && newLevel === level && targets.size === 0 && cgroups.length > 0 : fresh !== null && newLevel >= 2 && newLevel <= level;
      if (escalate || retry) {
        compacted = false;
        if (danger === undefined) {
          const sel = selectTargets(decision, prevUsage, cgroups, dtS, ctx);
          if (escalate) for (const s of sel.skipped) out.push(rec(t, newLevel, "cgroup", s.path, "contributor", `skipped: ${s.reason}`));
          for (const tg of sel.targets) targets.set(`${tg.path}#${tg.resource}`, tg);
        } else if (fresh) out.push(rec(t, newLevel, "cgroup", fresh.path, "danger target", `chosen: ${fresh.evidence}`));
        // Containment stays on everyone targeted so far in this episode.
        for (const tg of targets.values()) applyLevel(out, t, Math.min(newLevel, 4), tg);
        if (newLevel >= 3) {
          xdpOffAtT = null;
          setXdp(out, t, newLevel, newLevel >= 5 ? "isolate" : newLevel === 4 ? "block-all" : "shed-new");
        }
        if (newLevel === 5 && quarantined && retry) {
          out.push(...extendQuarantine(cfg, { t, fs, layout, ctx, act, journal, kill }, [...targets.values()].map((x) => x.path)));
        }
        if (newLevel === 5 && !quarantined) {
          quarantined = true;
          out.push(
            ...enterQuarantine(cfg, {
              t,
              targets: [...targets.values()].map((x) => x.path),
              decisions: recent,
              cgroups,
              journal,
              fs,
              layout,
              ctx,
              act,
              kill,
              xdp: cfg.respond.xdpInterface ? { ifname: cfg.respond.xdpInterface, policy: xdpPolicy } : null,
              ...deps.quarantine,
            }),
          );
        }
      } else if (newLevel < level) {
        // Below 5 only after `hosa quarantine release` (the engine's releaseQuarantine()).
        quarantined = false;
        startRelax(t, newLevel);
        // Below Level 3 new connections are rate-limited for relax_s, then XDP goes (004 §6.2).
        if (newLevel < 3 && level >= 3) {
          setXdp(out, t, newLevel, "rate-new");
          xdpOffAtT = t + cfg.respond.relaxS;
        } else if (newLevel >= 3) setXdp(out, t, newLevel, newLevel === 4 ? "block-all" : "shed-new");
        if (newLevel < 2) {
          for (const [k, tg] of targets) if (![...managed.values()].some((m) => m.target === tg.path)) targets.delete(k);
        }
      }
      level = newLevel;
      tick(out, t);
      if (newLevel <= 1 && managed.size === 0) {
        targets.clear();
        refused.clear();
      }
      if (cgroups.length > 0) {
        prevUsage = cgroups;
        prevT = t;
      }
      return out;
    },

    restoreAll(reason: string, opts: { keepQuarantine?: boolean } = {}): ActionRecord[] {
      const t = lastT;
      if (!act) {
        const out = [...managed.values()].map((m) => rec(t, level, "cgroup", m.target, `${m.file} ${m.value}→${m.orig} (${reason})`, "would restore (detection-only)"));
        managed.clear();
        return out;
      }
      const loaded = journal.load();
      const { warnings } = loaded;
      // A quarantine in force outlives the agent (only release lifts it):
      // its stopped processes and isolation stay, every other value goes back.
      const kept = opts.keepQuarantine ? loaded.open.filter((c) => c.first.op === "stop" || c.first.op === "xdp") : [];
      const open = loaded.open.filter((c) => !kept.includes(c));
      const { records, stillOpen: left } = restoreChanges(
        open,
        { fs, procRoot, journal, detachXdp: deps.detachXdp, liveXdp, kill },
        t,
      );
      for (const w of warnings) records.push(rec(t, level, "cgroup", journal.path, "read journal", `skipped: ${w}`));
      const stillOpen = [...kept, ...left];
      journal.compact(stillOpen);
      managed.clear();
      inForceRecords.clear();
      targets.clear();
      xdpPolicy = "off";
      level = 0;
      return records;
    },

    heldCeilings(): Map<string, Record<string, number>> {
      const out = new Map<string, Record<string, number>>();
      if (!act) return out;
      for (const m of managed.values()) {
        if (m.file !== CG.memoryLimit && m.file !== CG.memoryHigh && m.file !== CG.memoryMax && m.file !== CG.cfsQuotaUs && m.file !== CG.cpuMax) continue;
        // A CPU quota counts as held, its original value aside (-1, "max 100000").
        const orig = m.orig === "max" || m.orig.startsWith("max ") || m.orig === "-1" ? Number.POSITIVE_INFINITY : Number(m.orig);
        const files = out.get(m.target) ?? {};
        files[m.file] = Number.isFinite(orig) ? orig : Number.POSITIVE_INFINITY;
        out.set(m.target, files);
      }
      return out;
    },

    inForce(): ActionRecord[] {
      return [...inForceRecords.entries()]
        .filter(([k]) => managed.has(k) || k.startsWith("xdp:"))
        .map(([k, r]) => {
          const m = managed.get(k);
          return m ? { ...r, action: `${m.file}${m.dev ? ` ${m.dev}` : ""} ${m.orig}→${m.value}${m.mode !== "fixed" ? ` (${m.mode})` : ""}` } : r;
        });
    },
  };
}

