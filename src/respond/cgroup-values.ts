// The cgroup files hosa holds, shared by the cgroup actuators (memory, cpu,
// io, freeze): every write is journaled with the value it replaces before it
// happens, a value someone else changed since is left alone, and on the way
// down each value goes back in steps over respond.relax_s, never all at once.
import { type CgroupFs, hierarchyDir, normalizeValue, readPids } from "../kernel/cgroupfs.ts";
import { type CgroupLayout } from "../kernel/cgroups.ts";
import { CG, type V1Controller } from "../kernel/files.ts";
import type { ChangeEntry, Journal, OpenChange, SetEntry } from "./journal.ts";
import { cgroupOfPid } from "../kernel/proc.ts";
import { type SafelistContext, safelistPathReason, safelistReason } from "./targets.ts";
import type { ActionRecord } from "./types.ts";

/** Relaxation goes in this many steps over respond.relax_s. */
export const RELAX_STEPS = 3;
const PAGE = 4096;

export const pageUp = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** One cgroup file hosa holds. */
export interface HeldValue {
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
  /** "rising": bytes per second the value climbs back toward its original while the level holds. */
  risePerS?: number;
  /** Put back in one step (a freeze: the levels below still hold). */
  atOnce?: boolean;
}

export interface ImposeOptions {
  dev?: string;
  mode?: HeldValue["mode"];
  after?: string;
  risePerS?: number;
  atOnce?: boolean;
}

export interface CgroupValuesDeps {
  fs: CgroupFs;
  layout: CgroupLayout;
  act: boolean;
  journal: Journal;
  relaxS: number;
  safelist: SafelistContext;
  newId(t: number): string;
  rec(t: number, level: number, kind: ActionRecord["kind"], target: string, action: string, outcome: string): ActionRecord;
}

/** The current value of a journaled file, in the form hosa wrote it (per device for io files). */
export function readCurrent(fs: CgroupFs, dir: string, file: string, dev?: string): string | undefined {
  const raw = fs.read(dir, file);
  if (raw === undefined) return undefined;
  return dev ? deviceLine(file, raw, dev) : normalizeValue(file, raw);
}

const IO_KEYS = ["rbps", "wbps", "riops", "wiops"] as const;

/** One device's line of io.max / blkio.throttle.*, absent meaning unlimited, in a fixed key order. */
export function deviceLine(file: string, raw: string, dev: string): string {
  const line = raw.split("\n").find((l) => l.startsWith(`${dev} `));
  if (file === CG.ioMax) {
    const kv = new Map<string, string>();
    for (const tok of (line ?? "").split(/\s+/).slice(1)) {
      const [k, v] = tok.split("=");
      if (k && v) kv.set(k, v);
    }
    return `${dev} ${IO_KEYS.map((k) => `${k}=${kv.get(k) ?? "max"}`).join(" ")}`;
  }
  // blkio.throttle.*_device: "maj:min value"; writing 0 removes the rule.
  return line ? line.trim().replace(/\s+/g, " ") : `${dev} 0`;
}

/**
 * Restore one set entry pair (first holds the original, last hosa's value).
 * The file may also hold `prior`'s value: the last entry was journaled, and
 * the agent killed before its write. Returns the outcome and whether it is over.
 */
export function restoreSet(fs: CgroupFs, first: SetEntry, last: SetEntry, prior?: ChangeEntry): { outcome: string; over: boolean; action: string } {
  const action = `${first.dev ? `${first.file} ${first.dev}` : first.file} ${last.value}→${first.prev}`;
  const cur = readCurrent(fs, first.dir, first.file, first.dev);
  if (cur === undefined) return { outcome: "skipped: cgroup gone", over: true, action };
  if (cur === first.prev) return { outcome: "restored (already at the original value)", over: true, action };
  const cutShort = prior?.op === "set" && cur === prior.value;
  if (cur !== last.value && !cutShort) {
    return { outcome: `skipped: changed by someone else since hosa wrote it (now ${cur}, hosa wrote ${last.value}); left as is`, over: true, action };
  }
  try {
    fs.write(first.dir, first.file, first.prev);
  } catch (e) {
    return { outcome: `failed: ${(e as Error).message.split("\n")[0]}`, over: false, action };
  }
  return { outcome: "restored", over: true, action };
}

/** An actuator's restore of the cgroup files it owns: the change put back, or null when it is not one of `files`. */
export function restoreOwnFile(fs: CgroupFs, files: readonly string[], c: OpenChange): { outcome: string; over: boolean; action: string } | null {
  if (c.first.op !== "set" || c.last.op !== "set" || !files.includes(c.first.file)) return null;
  return restoreSet(fs, c.first, c.last, c.prior);
}

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

export class CgroupValues {
  private readonly held = new Map<string, HeldValue>();
  private readonly inForceRecords = new Map<string, ActionRecord>();

  constructor(private readonly d: CgroupValuesDeps) {}

  get size(): number {
    return this.held.size;
  }

  get(key: string): HeldValue | undefined {
    return this.held.get(key);
  }

  /** The journal key of a file (`cgroup:<dir>/<file>[@dev]`). */
  keyOf(dir: string, file: string, dev?: string): string {
    return `cgroup:${dir}/${file}${dev ? `@${dev}` : ""}`;
  }

  /** Whether hosa still holds a value on this target. */
  holdsTarget(target: string): boolean {
    return [...this.held.values()].some((m) => m.target === target);
  }

  values(): HeldValue[] {
    return [...this.held.values()];
  }

  /** The directory of a contributor in one controller's hierarchy, or why there is none. */
  dirFor(target: string, controller: V1Controller): { dir: string } | { skip: string } {
    const { layout, fs } = this.d;
    if (layout.memoryHierarchy === "v2" || controller === "memory") return { dir: hierarchyDir(layout, controller, target) };
    // v1/hybrid: each controller is its own tree; follow the processes.
    const pids = readPids(fs, hierarchyDir(layout, "memory", target));
    // The common case in one read, not one /proc read per process (a fork
    // storm has a thousand): the first process's cgroup there holds exactly
    // the target's processes. Those were checked against the safelist with
    // the target itself (the danger gate, the contributors, the cortex).
    const first = pids.length > 0 ? cgroupOfPid(this.d.safelist.procRoot, pids[0], layout, controller) : undefined;
    if (first) {
      const there = readPids(fs, hierarchyDir(layout, controller, first));
      const mine = new Set(pids);
      if (there.length === mine.size && there.every((q) => mine.has(q))) {
        const why = safelistPathReason(first, { ...this.d.safelist, scope: "" }, controller);
        return why ? { skip: `${controller} cgroup ${first}: ${why}` } : { dir: hierarchyDir(layout, controller, first) };
      }
    }
    const paths = new Set<string>();
    for (const pid of pids) {
      const p = cgroupOfPid(this.d.safelist.procRoot, pid, layout, controller);
      if (p) paths.add(p);
    }
    if (paths.size === 0) return { skip: `no processes to find its ${controller} cgroup` };
    if (paths.size > 1) return { skip: `its processes are in ${paths.size} different ${controller} cgroups` };
    const p = [...paths][0];
    // respond.cgroup_scope names a path in the attribution hierarchy, already checked on the target.
    const why = safelistReason(p, { ...this.d.safelist, scope: "" }, controller);
    if (why) return { skip: `${controller} cgroup ${p}: ${why}` };
    return { dir: hierarchyDir(layout, controller, p) };
  }

  private forget(m: HeldValue): void {
    this.held.delete(m.key);
    this.inForceRecords.delete(m.key);
  }

  /** Write one value (journal first), or say what would be written. Returns the record. */
  write(m: HeldValue, value: string, t: number, lvl: number, first: boolean): ActionRecord {
    const { fs, journal, act, rec } = this.d;
    const label = `${m.file}${m.dev ? ` ${m.dev}` : ""} ${m.value}→${value}`;
    if (!act) {
      m.value = value;
      return rec(t, lvl, "cgroup", m.target, label, "would apply (detection-only)");
    }
    if (!first) {
      const cur = readCurrent(fs, m.dir, m.file, m.dev);
      if (cur === m.orig && value === m.orig) {
        this.forget(m);
        journal.append({ op: "done", key: m.key, outcome: "already restored" });
        return rec(t, lvl, "cgroup", m.target, label, "restored (already at the original value)");
      }
      if (cur === undefined) {
        this.forget(m);
        journal.append({ op: "done", key: m.key, outcome: "cgroup gone" });
        return rec(t, lvl, "cgroup", m.target, label, "skipped: cgroup gone");
      }
      if (cur !== m.value) {
        this.forget(m);
        journal.append({ op: "done", key: m.key, outcome: "changed by someone else" });
        return rec(t, lvl, "cgroup", m.target, label, `skipped: changed by someone else since hosa wrote it (now ${cur ?? "gone"}, hosa wrote ${m.value}); left as is`);
      }
    }
    journal.append({ op: "set", id: this.d.newId(t), t, level: lvl, dir: m.dir, file: m.file, ...(m.dev ? { dev: m.dev } : {}), prev: m.orig, value });
    try {
      fs.write(m.dir, m.file, value);
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      if (first) {
        this.held.delete(m.key);
        journal.append({ op: "done", key: m.key, outcome: "write failed" });
      }
      return rec(t, lvl, "cgroup", m.target, label, `failed: ${msg}`);
    }
    m.value = value;
    return rec(t, lvl, "cgroup", m.target, label, "applied");
  }

  /** Take over a file at a level with a new value (or re-tighten one hosa already holds); `compute` null: nothing to do. */
  impose(out: ActionRecord[], t: number, lvl: number, target: string, controller: V1Controller, file: string, compute: (orig: string) => string | null, opts: ImposeOptions = {}): void {
    const { rec } = this.d;
    const d = this.dirFor(target, controller);
    if ("skip" in d) {
      out.push(rec(t, lvl, "cgroup", target, file, `skipped: ${d.skip}`));
      return;
    }
    const key = this.keyOf(d.dir, file, opts.dev);
    const had = this.held.get(key);
    const orig = had?.orig ?? readCurrent(this.d.fs, d.dir, file, opts.dev);
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
    const m: HeldValue = had ?? { key, target, dir: d.dir, file, dev: opts.dev, layer: lvl, orig, value: orig, mode: "fixed", lastStepT: t, after: opts.after, risePerS: opts.risePerS, atOnce: opts.atOnce };
    m.layer = had ? Math.max(had.layer, lvl) : lvl;
    m.mode = opts.mode ?? "fixed";
    m.relax = undefined;
    m.lastStepT = t;
    this.held.set(key, m);
    const r = this.write(m, value, t, lvl, !had);
    if (!r.outcome.startsWith("applied") && !r.outcome.startsWith("would")) this.held.delete(key);
    else if (r.outcome === "applied") this.inForceRecords.set(key, r);
    out.push(r);
  }

  /** Rising values and relaxation steps that are due at time t. */
  tick(out: ActionRecord[], t: number, level: number): void {
    const { act, journal } = this.d;
    for (const m of [...this.held.values()]) {
      if (m.mode === "rising" && act && t - m.lastStepT >= 1) {
        const origN = Number(m.orig);
        const next = Math.min(pageUp(Number(m.value) + (m.risePerS ?? 0) * (t - m.lastStepT)), origN);
        m.lastStepT = t;
        if (next > Number(m.value)) out.push(this.write(m, String(next), t, level, false));
      } else if (m.mode === "relaxing" && m.relax) {
        if (m.after && this.held.has(m.after)) continue;
        const r = m.relax;
        const stepS = this.d.relaxS / r.steps;
        const due = stepS <= 0 ? r.steps : Math.min(r.steps, Math.floor((t - r.startT) / stepS + 1e-9));
        const k = m.atOnce ? r.steps : due;
        if (k <= r.done) continue;
        r.done = k;
        const value = relaxValue(m.file, r.from, m.orig, k, r.steps);
        if (k >= r.steps) {
          const rr = this.write(m, value, t, level, false);
          if (rr.outcome === "applied" || rr.outcome.startsWith("would")) {
            rr.outcome = act ? "restored" : "would restore (detection-only)";
            if (act) journal.append({ op: "done", key: m.key, outcome: "restored" });
            this.forget(m);
          }
          out.push(rr);
        } else if (value !== m.value) out.push(this.write(m, value, t, level, false));
      }
    }
  }

  /** The level went down to newLevel: every value above it starts relaxing. */
  startRelax(t: number, newLevel: number): void {
    for (const m of this.held.values()) {
      if (m.layer <= newLevel || m.mode === "relaxing") continue;
      m.mode = "relaxing";
      m.relax = { from: m.value, startT: t, done: 0, steps: RELAX_STEPS };
    }
  }

  /** Detection-only stop: what would go back. */
  wouldRestore(t: number, level: number, reason: string): ActionRecord[] {
    const out = this.values().map((m) => this.d.rec(t, level, "cgroup", m.target, `${m.file} ${m.value}→${m.orig} (${reason})`, "would restore (detection-only)"));
    this.held.clear();
    return out;
  }

  clear(): void {
    this.held.clear();
    this.inForceRecords.clear();
  }

  inForce(): ActionRecord[] {
    return [...this.inForceRecords.entries()]
      .filter(([k]) => this.held.has(k))
      .map(([k, r]) => {
        const m = this.held.get(k) as HeldValue;
        return { ...r, action: `${m.file}${m.dev ? ` ${m.dev}` : ""} ${m.orig}→${m.value}${m.mode !== "fixed" ? ` (${m.mode})` : ""}` };
      });
  }
}
