// CPU (and I/O) harm: evidence that one cgroup's CPU use starves a neighbour the
// operator named latency-sensitive (respond.latency_sensitive), measured on
// the neighbour, not on the busy one (docs/response.md § CPU harm).
//
// Busyness is not harm: "all cores busy for 20 s" is a healthy burst, and the
// node's CPU pressure says nothing about who suffers from whom (on a shared
// node it sits high from load hosa may not touch). Harm is:
//
//   served    a latency-sensitive cgroup's tasks, while they asked for at
//             least minRun of a CPU (runnable: ran + waited on a run queue,
//             /proc/<tid>/schedstat summed over its tasks), got at most
//             1 / (1 + minWaitRatio) of what they asked for (waited at least
//             minWaitRatio of the time they ran) AND either at most
//             servedFloor of it (waited longer than they ran) or at most
//             servedDrop of their usual share (an EWMA over baselineTauS,
//             learnt only while no cgroup in scope has the demand to be a
//             culprit): CPU received against CPU asked for, in the
//             service's own terms. Outside load that already made it wait
//             while its usual share was learnt does not hide a runaway that
//             starts later: waiting longer than it runs is harm whatever it
//             used to get;
//   stall     where a neighbour's wait is not read (no schedstat, and I/O):
//             its own pressure (cgroup2 cpu.pressure / io.pressure "some"
//             total) over the last windowS, as a fraction of the time, is at
//             least minStall AND at least rise above its own level before;
//   culprit   meanwhile one other cgroup in scope (not the neighbour, not an
//             ancestor or descendant of it) competes for the CPU: where its
//             threads' schedstat is read, it keeps at least minDemand (1.5)
//             threads runnable on average (ran + waited, per second: more
//             than one thread's worth, since any single thread starved by
//             outside load is runnable all the time, however little it
//             needs) and at
//             least minShare of what the scope's others keep runnable, the
//             most of all (its demand, not the CPU it got: on a node loaded
//             from outside the scope, a runaway of 8 spinning threads gets
//             0.07 CPU and still takes two thirds of the neighbour's CPU);
//             where no other's threads are read, by its use: at least minUse (0.5 CPU), or at least
//             minShare of what the scope used besides the neighbour itself
//             (and a fifth of minUse), the most of all (the deepest when a
//             parent only adds its child's use);
//   lasting   both hold, same neighbour and same culprit, for holdS, gaps of
//             at most graceS forgiven (a 2 s window on a noisy node flickers
//             across the line): a burst shorter than that is tolerated even
//             by a sensitive neighbour.
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
   * (/proc/<tid>/schedstat, summed over its tasks as they come and go); read
   * for sensitive cgroups and the busiest others (cpu), absent elsewhere. The
   * sums may start again from 0 (a cgroup read again after a pause).
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
  /** Harm needs a run-queue wait of at least this per unit of run time (schedstat)... */
  minWaitRatio: number;
  /** ...and a share of the CPU asked for (run / (run + wait)) at most this... */
  servedFloor: number;
  /** ...or at most this fraction of the neighbour's usual share. */
  servedDrop: number;
  /** A neighbour asking for less than this (runnable CPU-µs/s) is idle: its share means nothing. */
  minRun: number;
  baselineTauS: number;
  /** The culprit's use at least this, per second: CPU-µs/s (cpu), bytes/s (io)... */
  minUse: number;
  /** ...or at least this share of what the whole scope used (of the others' demand, where read). */
  minShare: number;
  /** Where its threads' schedstat is read: the culprit keeps at least this many threads runnable on average. */
  minDemand: number;
  holdS: number;
  /** A pair that stops harming for at most this long is still the same episode. */
  graceS: number;
  releaseS: number;
  /** The time to failure a standing harm reports: inside the danger horizon, never critical. */
  ttfS: number;
}

export function defaultCpuHarmConfig(): CpuHarmConfig {
  return {
    kind: "cpu",
    windowS: 2,
    minStall: 0.3,
    rise: 0.15,
    minWaitRatio: 0.5,
    servedFloor: 0.5,
    servedDrop: 0.75,
    minRun: 0.05e6,
    baselineTauS: 30,
    minUse: 0.5e6,
    minShare: 0.5,
    minDemand: 1.5,
    holdS: 10,
    graceS: 2,
    releaseS: 3,
    ttfS: 60,
  };
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
  rate(f: "usage" | "stall" | "throttled"): number {
    const n = this.pts.length;
    if (n < 2) return Number.NaN;
    const a = this.pts[0];
    const b = this.pts[n - 1];
    return b.t > a.t ? (b[f] - a[f]) / (b.t - a.t) : Number.NaN;
  }
  /**
   * Rates of the schedstat sums (run, wait) over the window, from the
   * earliest point since they were last read without a pause (read, and not
   * lower than before); NaN without two such points.
   */
  sched(): { run: number; wait: number } {
    const n = this.pts.length;
    const b = this.pts[n - 1];
    let i = n - 1;
    while (i > 0) {
      const a = this.pts[i - 1];
      if (!(Number.isFinite(a.run) && Number.isFinite(a.wait) && a.run <= this.pts[i].run && a.wait <= this.pts[i].wait)) break;
      i--;
    }
    const a = this.pts[i];
    if (!(b.t > a.t) || !Number.isFinite(b.run)) return { run: Number.NaN, wait: Number.NaN };
    return { run: (b.run - a.run) / (b.t - a.t), wait: (b.wait - a.wait) / (b.t - a.t) };
  }
}

const depth = (p: string) => (p === "/" ? 0 : p.split("/").length - 1);
const related = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
const pct = (v: number) => `${(v * 100).toFixed(0)} %`;

interface Victim {
  path: string;
  /** Stall fraction (stall rule), or the share of the CPU asked for that it got (served rule). */
  m: number;
  baseline: number;
  served: boolean;
  /** Run-queue wait per unit of run time (served rule). */
  ratio: number;
  over: number;
}

export class CpuHarmTracker {
  readonly cfg: CpuHarmConfig;
  private readonly series = new Map<string, CpuSeries>();
  private lastT = Number.NaN;
  /** The pair harming now, since when, and when it last did. */
  private pair: { culprit: string; victim: string; sinceT: number; lastT: number } | null = null;
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
    // Learn each sensitive neighbour's usual level only while no cgroup in
    // scope could be its culprit (a runaway that just started is not its
    // usual); suffering with no culprit, ten times slower (a node that got
    // busier for good becomes its usual).
    const alpha = dt > 0 ? 1 - exp(-dt / cfg.baselineTauS) : 0;
    for (const f of facts) {
      if (!f.sensitive) continue;
      const v = this.suffering(f.path);
      if (!v) continue;
      const s = this.series.get(f.path)!;
      if (Number.isNaN(s.baseline)) s.baseline = v.m;
      else if (!this.culpritFor(facts, f.path)) s.baseline += (this.harmed(v.m, s.baseline, v.served, v.ratio) ? alpha / 10 : alpha) * (v.m - s.baseline);
    }
    if (!j) {
      // A gap shorter than graceS keeps the episode.
      if (this.pair && t - this.pair.lastT > cfg.graceS) this.pair = null;
      return null;
    }
    if (!this.pair || this.pair.culprit !== j.culprit || this.pair.victim !== j.victim || t - this.pair.lastT > cfg.graceS) this.pair = { culprit: j.culprit, victim: j.victim, sinceT: t, lastT: t };
    this.pair.lastT = t;
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
   * How much a sensitive neighbour suffers now: the share of the CPU it
   * asked for that it got, where its schedstat is read (null while it asks
   * for less than minRun), else its stall fraction.
   */
  private suffering(path: string): { m: number; served: boolean; ratio: number } | null {
    const s = this.series.get(path)!;
    const q = s.sched();
    if (Number.isNaN(q.run)) {
      const m = s.rate("stall") / 1e6;
      return Number.isFinite(m) ? { m, served: false, ratio: Number.NaN } : null;
    }
    const asked = q.run + q.wait;
    if (!(asked >= this.cfg.minRun)) return null;
    return { m: q.run / asked, served: true, ratio: q.run > 0 ? q.wait / q.run : Number.POSITIVE_INFINITY };
  }

  private harmed(m: number, baseline: number, served: boolean, ratio: number): boolean {
    const cfg = this.cfg;
    if (!served) return m >= cfg.minStall && m >= baseline + cfg.rise;
    return ratio >= cfg.minWaitRatio && (m <= cfg.servedFloor || m <= cfg.servedDrop * baseline);
  }

  /** The cgroup in scope whose demand (or use) explains a neighbour's harm, or null. */
  private culpritFor(facts: CpuFacts[], victim: string): { path: string; rate: number; demand: number; share: number } | null {
    const cfg = this.cfg;
    // By demand, where the threads' schedstat is read: how many threads it keeps runnable, against the scope's others.
    if (cfg.kind === "cpu") {
      let others = 0;
      let best: { path: string; rate: number; demand: number } | null = null;
      for (const f of facts) {
        if (f.sensitive || related(f.path, victim)) continue;
        const q = this.series.get(f.path)!.sched();
        const d = q.run + q.wait;
        if (!(d > 0)) continue;
        others += d / 1e6;
        if (!best || d / 1e6 > best.demand) best = { path: f.path, rate: this.series.get(f.path)!.rate("usage"), demand: d / 1e6 };
      }
      if (best) return best.demand >= cfg.minDemand && best.demand >= cfg.minShare * others ? { ...best, share: best.demand / others } : null;
    }
    // By use, where no other's threads are read: a floor, or most of what the scope used (a host that gives the scope little CPU).
    // What the others used: the scope's whole use (the cgroups with no
    // watched ancestor: use is hierarchical) less the harmed neighbour's own,
    // which competes with nobody for its own CPU.
    let total = 0;
    for (const f of facts) {
      if (facts.some((g) => g !== f && f.path.startsWith(`${g.path}/`))) continue;
      const r = this.series.get(f.path)!.rate("usage");
      if (r > 0) total += r;
    }
    const own = this.series.get(victim)!.rate("usage");
    if (own > 0) total = Math.max(0, total - own);
    let culprit: { path: string; rate: number } | null = null;
    for (const f of facts) {
      if (f.sensitive || related(f.path, victim)) continue;
      const r = this.series.get(f.path)!.rate("usage");
      if (!(r >= cfg.minUse || (r >= cfg.minUse / 5 && r >= cfg.minShare * total))) continue;
      // A parent whose use is its child's: the deeper one is named (within 10 %).
      if (!culprit || r > culprit.rate * 1.1 || (related(f.path, culprit.path) && depth(f.path) > depth(culprit.path) && r >= culprit.rate * 0.9)) culprit = { path: f.path, rate: r };
    }
    return culprit ? { ...culprit, demand: Number.NaN, share: total > 0 ? culprit.rate / total : 1 } : null;
  }

  /** The neighbour most harmed now and the cgroup whose use explains it, or null. */
  private judge(facts: CpuFacts[]): { culprit: string; victim: string; ratePerS: number; words: string } | null {
    const cfg = this.cfg;
    let victim: Victim | null = null;
    for (const f of facts) {
      if (!f.sensitive) continue;
      const v = this.suffering(f.path);
      const s = this.series.get(f.path)!;
      if (!v || Number.isNaN(s.baseline) || !this.harmed(v.m, s.baseline, v.served, v.ratio)) continue;
      // Most harmed: the furthest past its own threshold.
      const over = v.served ? Math.max(cfg.servedFloor, cfg.servedDrop * s.baseline) / Math.max(v.m, 1e-9) : v.m / Math.max(cfg.minStall, s.baseline + cfg.rise);
      if (!victim || over > victim.over) victim = { path: f.path, m: v.m, baseline: s.baseline, served: v.served, ratio: v.ratio, over };
    }
    if (!victim) return null;
    const c = this.culpritFor(facts, victim.path);
    if (!c) return null;
    const why = Number.isNaN(c.demand) ? `using ${(c.rate / 1e6).toFixed(2)} CPUs` : `keeping ${c.demand.toFixed(1)} threads runnable (${pct(c.share)} of the scope's others), using ${(c.rate / 1e6).toFixed(2)} CPUs,`;
    return {
      culprit: c.path,
      victim: victim.path,
      ratePerS: c.rate,
      words:
        cfg.kind === "cpu"
          ? victim.served
            ? `${why} while latency-sensitive ${victim.path} got ${pct(victim.m)} of the CPU it asked for (${pct(victim.baseline)} before), waiting on a run queue ${victim.ratio.toFixed(2)} ms per ms it ran`
            : `${why} while latency-sensitive ${victim.path} waited for a CPU ${pct(victim.m)} of the time (${pct(victim.baseline)} before)`
          : `doing ${(c.rate / 1048576).toFixed(1)} MiB/s of I/O while latency-sensitive ${victim.path} waited on I/O ${pct(victim.m)} of the time (${pct(victim.baseline)} before)`,
    };
  }
}
