// CPU (and I/O) harm: evidence that one cgroup's CPU use starves a neighbour the
// operator named latency-sensitive (respond.latency_sensitive), measured on
// the neighbour, not on the busy one (docs/response.md § CPU harm).
//
// Busyness is not harm: "all cores busy for 20 s" is a healthy burst, and the
// node's CPU pressure says nothing about who suffers from whom (on a shared
// node it sits high from load hosa may not touch). Harm is:
//
//   wait      a latency-sensitive cgroup's tasks, while they ran at least
//             minRun of a CPU, waited on a run queue at least minWaitRatio
//             of the time they ran (/proc/<tid>/schedstat run_delay over
//             run time, summed over its tasks) AND at least waitRise times
//             their own ratio before (an EWMA over baselineTauS, learnt only
//             while no harm stands): each request it serves takes longer
//             than it used to, for want of a CPU. Unlike a stall fraction,
//             which tops out at 100 % of the time (on a loaded node it sits
//             there already), the ratio keeps rising with the competition;
//   stall     where a neighbour's wait is not read (no schedstat, and I/O):
//             its own pressure (cgroup2 cpu.pressure / io.pressure "some"
//             total) over the last windowS, as a fraction of the time, is at
//             least minStall AND at least rise above its own level before;
//   culprit   meanwhile one other cgroup in scope (not the neighbour, not an
//             ancestor or descendant of it; the deepest when a parent only
//             adds its child's use) uses at least minUse of CPU (0.5 CPU),
//             or at least minShare (half) of what the scope used besides
//             the neighbour itself (and a fifth of minUse), and the most of
//             all: its share explains the stall;
//   lasting   both hold, same neighbour and same culprit, for holdS: a burst
//             shorter than that is tolerated even by a sensitive neighbour.
//
// Once hosa holds the culprit with a CPU quota, the harm stands while the
// quota keeps throttling it (the demand is still there, only held) and is
// gone after releaseS without throttling.
//
// I/O is judged by the same rule (kind "io"): the neighbour's io.pressure
// stall, the culprit's bytes read and written (≥ 20 MiB/s); under hosa's
// throttle the harm stands while the culprit still does half that.
//
// Pure and deterministic: facts in (time included), a candidate out.
import { exp } from "./detmath.ts";

export interface CpuFacts {
  /** Relative to the cgroup root, starting with "/". */
  path: string;
  /** Cumulative use: CPU time in microseconds (cpu), bytes read and written (io). */
  usage: number;
  /** Cumulative stall ("some" total of cpu.pressure / io.pressure), microseconds; NaN where the cgroup has no cgroup2 pressure file. */
  stallUs: number;
  /** Cumulative time throttled by a CPU quota, microseconds; NaN when hosa holds no quota on it (and always for io). */
  throttledUs: number;
  /**
   * Cumulative time its tasks waited on a run queue, and ran, microseconds
   * (/proc/<tid>/schedstat, summed over its tasks as they come and go);
   * read for sensitive cgroups only (cpu), absent elsewhere.
   */
  waitUs?: number;
  runUs?: number;
  /** Named latency-sensitive by the operator. */
  sensitive: boolean;
}

export interface CpuHarmConfig {
  /** What is used and stalled on: CPU (use in CPU-µs) or I/O (use in bytes). */
  kind: "cpu" | "io";
  windowS: number;
  minStall: number;
  rise: number;
  /** Run-queue wait per unit of run time that is harm (schedstat)... */
  minWaitRatio: number;
  /** ...and at least this many times the neighbour's own ratio before. */
  waitRise: number;
  /** A neighbour running less than this (CPU-µs/s) is idle: its wait ratio means nothing. */
  minRun: number;
  baselineTauS: number;
  /** The culprit's use at least this, per second: CPU-µs/s (cpu), bytes/s (io)... */
  minUse: number;
  /** ...or at least this share of what the whole scope used. */
  minShare: number;
  holdS: number;
  releaseS: number;
  /** The time to failure a standing harm reports: inside the danger horizon, never critical. */
  ttfS: number;
}

export function defaultCpuHarmConfig(): CpuHarmConfig {
  return { kind: "cpu", windowS: 2, minStall: 0.3, rise: 0.15, minWaitRatio: 0.5, waitRise: 2, minRun: 0.05e6, baselineTauS: 30, minUse: 0.5e6, minShare: 0.5, holdS: 10, releaseS: 3, ttfS: 60 };
}

/** The same rule for I/O: a neighbour's io.pressure stall, a cgroup doing ≥ 20 MiB/s of I/O. */
export function defaultIoHarmConfig(): CpuHarmConfig {
  return { ...defaultCpuHarmConfig(), kind: "io", minUse: 20 * 1024 * 1024 };
}

export interface CpuHarm {
  culprit: string;
  victim: string;
  /** The culprit's use when named: CPU-microseconds per second (cpu), bytes per second (io). */
  ratePerS: number;
  ttfS: number;
  evidence: string;
}

interface Point {
  t: number;
  usage: number;
  stall: number;
  throttled: number;
  wait: number;
  run: number;
}

class CpuSeries {
  pts: Point[] = [];
  baseline = Number.NaN;
  lastSeenT = Number.NaN;
  add(p: Point, windowS: number): void {
    this.pts.push(p);
    while (this.pts.length > 2 && this.pts[1].t <= p.t - windowS) this.pts.shift();
    this.lastSeenT = p.t;
  }
  /** Rate of a cumulative field over the window, per second; NaN without two points. */
  rate(f: "usage" | "stall" | "throttled" | "wait" | "run"): number {
    const n = this.pts.length;
    if (n < 2) return Number.NaN;
    const a = this.pts[0];
    const b = this.pts[n - 1];
    return b.t > a.t ? (b[f] - a[f]) / (b.t - a.t) : Number.NaN;
  }
}

const depth = (p: string) => (p === "/" ? 0 : p.split("/").length - 1);
const related = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
const pct = (v: number) => `${(v * 100).toFixed(0)} %`;

export class CpuHarmTracker {
  readonly cfg: CpuHarmConfig;
  private readonly series = new Map<string, CpuSeries>();
  private lastT = Number.NaN;
  /** The pair harming now and since when. */
  private pair: { culprit: string; victim: string; sinceT: number } | null = null;
  /** The standing harm (named after holdS), kept while the quota throttles. */
  private standing: (CpuHarm & { lastActiveT: number }) | null = null;

  constructor(cfg: Partial<CpuHarmConfig> = {}) {
    this.cfg = { ...(cfg.kind === "io" ? defaultIoHarmConfig() : defaultCpuHarmConfig()), ...cfg };
  }

  /** Feed the CPU facts read at t (a tick may carry none: then the last judgement stands). */
  update(t: number, facts: CpuFacts[] | undefined): CpuHarm | null {
    const cfg = this.cfg;
    if (t < this.lastT) {
      this.series.clear();
      this.pair = null;
      this.standing = null;
    }
    if (facts === undefined || facts.length === 0) return this.standing ? this.out() : null;
    const dt = Number.isNaN(this.lastT) ? 0 : t - this.lastT;
    this.lastT = t;
    for (const f of facts) {
      let s = this.series.get(f.path);
      if (!s) {
        s = new CpuSeries();
        this.series.set(f.path, s);
      }
      s.add({ t, usage: f.usage, stall: f.stallUs, throttled: f.throttledUs, wait: f.waitUs ?? Number.NaN, run: f.runUs ?? Number.NaN }, cfg.windowS);
    }
    for (const [k, s] of this.series) if (t - s.lastSeenT > 10 * cfg.windowS) this.series.delete(k);

    // Held by a quota: the harm stands while the quota throttles the culprit.
    if (this.standing) {
      const s = this.series.get(this.standing.culprit);
      const f = facts.find((x) => x.path === this.standing!.culprit);
      // A CPU quota says when it throttles; an I/O throttle does not: a use still at half the floor is the demand held.
      const throttling = s !== undefined && f !== undefined && (Number.isNaN(f.throttledUs) ? cfg.kind === "io" && s.rate("usage") >= cfg.minUse / 2 : s.rate("throttled") > 0);
      const stillHarming = this.judge(facts)?.culprit === this.standing.culprit;
      if (throttling || stillHarming) this.standing.lastActiveT = t;
      if (!s || t - this.standing.lastActiveT >= cfg.releaseS) {
        this.standing = null;
        this.pair = null;
      } else return this.out();
    }

    const j = this.judge(facts);
    // Learn each sensitive neighbour's usual stall while nothing harms it;
    // suffering with no culprit in scope, ten times slower (a node that got
    // busier for good becomes its usual, a runaway that just started does not).
    const alpha = dt > 0 ? 1 - exp(-dt / cfg.baselineTauS) : 0;
    for (const f of facts) {
      if (!f.sensitive) continue;
      const s = this.series.get(f.path)!;
      const { m: st, wait } = this.suffering(s);
      if (!Number.isFinite(st)) continue;
      if (Number.isNaN(s.baseline)) s.baseline = st;
      else if (!(j && j.victim === f.path)) s.baseline += (this.harmed(st, s.baseline, wait) ? alpha / 10 : alpha) * (st - s.baseline);
    }
    if (!j) {
      this.pair = null;
      return null;
    }
    if (!this.pair || this.pair.culprit !== j.culprit || this.pair.victim !== j.victim) this.pair = { culprit: j.culprit, victim: j.victim, sinceT: t };
    const lasted = t - this.pair.sinceT;
    if (lasted < cfg.holdS) return null;
    this.standing = {
      culprit: j.culprit,
      victim: j.victim,
      ratePerS: j.ratePerS,
      ttfS: cfg.ttfS,
      lastActiveT: t,
      evidence: `${j.culprit}: ${j.words} for ${lasted.toFixed(1)} s`,
    };
    return this.out();
  }

  private out(): CpuHarm {
    const s = this.standing!;
    return { culprit: s.culprit, victim: s.victim, ratePerS: s.ratePerS, ttfS: s.ttfS, evidence: s.evidence };
  }

  /**
   * How much a sensitive neighbour suffers now: its run-queue wait per unit
   * of run time where read (NaN while it runs less than minRun), else its
   * stall fraction.
   */
  private suffering(s: CpuSeries): { m: number; wait: boolean } {
    const run = s.rate("run");
    if (Number.isNaN(run)) return { m: s.rate("stall") / 1e6, wait: false };
    return { m: run >= this.cfg.minRun ? s.rate("wait") / run : Number.NaN, wait: true };
  }

  private harmed(m: number, baseline: number, wait: boolean): boolean {
    const cfg = this.cfg;
    return wait ? m >= cfg.minWaitRatio && m >= cfg.waitRise * baseline : m >= cfg.minStall && m >= baseline + cfg.rise;
  }

  /** The neighbour most harmed now and the cgroup whose use explains it, or null. */
  private judge(facts: CpuFacts[]): { culprit: string; victim: string; ratePerS: number; words: string } | null {
    const cfg = this.cfg;
    let victim: { path: string; stall: number; baseline: number; wait: boolean; over: number } | null = null;
    for (const f of facts) {
      if (!f.sensitive) continue;
      const s = this.series.get(f.path)!;
      const { m: st, wait } = this.suffering(s);
      if (!Number.isFinite(st) || Number.isNaN(s.baseline)) continue;
      const harmed = this.harmed(st, s.baseline, wait);
      // Most harmed: the most above its own threshold.
      const over = wait ? st / Math.max(cfg.minWaitRatio, cfg.waitRise * s.baseline) : st / Math.max(cfg.minStall, s.baseline + cfg.rise);
      if (harmed && (!victim || over > victim.over)) victim = { path: f.path, stall: st, baseline: s.baseline, wait, over };
    }
    if (!victim) return null;
    // What the others used: the scope's whole use (the cgroups with no
    // watched ancestor: use is hierarchical) less the harmed neighbour's own,
    // which competes with nobody for its own CPU.
    let total = 0;
    for (const f of facts) {
      if (facts.some((g) => g !== f && f.path.startsWith(`${g.path}/`))) continue;
      const r = this.series.get(f.path)!.rate("usage");
      if (r > 0) total += r;
    }
    const own = this.series.get(victim.path)!.rate("usage");
    if (own > 0) total = Math.max(0, total - own);
    let culprit: { path: string; rate: number } | null = null;
    for (const f of facts) {
      if (f.sensitive || related(f.path, victim.path)) continue;
      const r = this.series.get(f.path)!.rate("usage");
      // Its own share explains the stall: a floor of use, or most of what the scope used (a host that gives the scope little CPU).
      if (!(r >= cfg.minUse || (r >= cfg.minUse / 5 && r >= cfg.minShare * total))) continue;
      // A parent whose use is its child's: the deeper one is named (within 10 %).
      if (!culprit || r > culprit.rate * 1.1 || (related(f.path, culprit.path) && depth(f.path) > depth(culprit.path) && r >= culprit.rate * 0.9)) culprit = { path: f.path, rate: r };
    }
    if (!culprit) return null;
    return {
      culprit: culprit.path,
      victim: victim.path,
      ratePerS: culprit.rate,
      words:
        cfg.kind === "cpu"
          ? victim.wait
            ? `using ${(culprit.rate / 1e6).toFixed(2)} CPUs while latency-sensitive ${victim.path} waited on a run queue ${victim.stall.toFixed(2)} ms per ms it ran (${victim.baseline.toFixed(2)} before)`
            : `using ${(culprit.rate / 1e6).toFixed(2)} CPUs while latency-sensitive ${victim.path} waited for a CPU ${pct(victim.stall)} of the time (${pct(victim.baseline)} before)`
          : `doing ${(culprit.rate / 1048576).toFixed(1)} MiB/s of I/O while latency-sensitive ${victim.path} waited on I/O ${pct(victim.stall)} of the time (${pct(victim.baseline)} before)`,
    };
  }
}
