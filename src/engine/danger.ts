// Danger: evidence that a named cgroup is heading to exhaustion, measured
// outside the statistics (docs/response.md § Danger). Surprise (D_M against
// θ) says that something is unusual; only danger may slow a workload.
//
// Pure and deterministic like the rest of the engine: the facts of one tick
// come in as data (time included), the Danger goes out; no I/O, no clock.
//
// Per cgroup and resource, growth is the least-squares slope of the usage
// over a short window (at least minSamples points spanning minSpanS): one
// noisy read moves a regression far less than a two-point difference. Memory
// is the non-reclaimable part (anon + shmem): page cache is reclaimed at a
// limit, so a cache warm heading "to the limit" heads nowhere.
//
//   time to failure  (limit − usage) / growth, to the cgroup's own limit (the
//                    ORIGINAL one when hosa lowered it). Seen, it is pending
//                    (Level 1: vigilance, nothing slowed) until the growth
//                    proves it lasts (below, "steady"); for a cgroup without
//                    a limit, node MemAvailable / growth, but only once the
//                    growth has lasted max(nodeMinLastingS, nodeLastingFraction
//                    · ttf): a 2 GiB burst on a 24 GiB node looks like a
//                    minute to exhaustion for the few seconds it grows, and
//                    is not danger; a leak that keeps going is. Never for a
//                    parent of other watched cgroups: its usage adds theirs,
//                    and a burst beside a neighbour that grows now and then
//                    would look like one growth that lasts.
//   released         memory that fell back (a process exited: a compile's
//                    cc1, a batch step) proves that what it had grown to fit
//                    and was given back. Until the usage passes the peak it
//                    had before that release (within releaseMemoryS), its
//                    growth is ground already covered, not a heading to
//                    exhaustion: a build's sawtooth climbs the same slope at
//                    every file and never gets higher. A leak never gives
//                    memory back; one that does (a runtime's collection) is
//                    danger again as soon as it passes its old peak.
//   steady           memory growth toward a cgroup's own limit is danger
//                    once it has been steady over a window that scales with
//                    its time to failure T: each third of the window grew at
//                    least steadyRatio of the window's mean. Near (T ≤ nearS
//                    at the window's mean rate and at the rate kept since the
//                    growth began, over at most a quarter of nearS): a
//                    window of confirmShare · T, at least minSpanS and at
//                    most confirmMaxS (0.5 s: the 50 MB/s leak in 2 GiB, 43 s
//                    out, is contained within 1 s on a loaded node; a 500
//                    MB/s one, 4 s out, at first sight; a burst must last
//                    about 0.45 s to pass). Far: steady over a
//                    quarter of T (the node rule's proof), or as soon as it
//                    comes near; hosa re-judges at every tick, so waiting on a
//                    far growth costs nothing. A program mapping its working
//                    set climbs in bursts of a few tenths of a second and
//                    pauses (a compiler's cc1: 28 MiB in 0.3 s, then 2 MiB in
//                    0.4 s, then 17 MiB in 0.3 s, then flat); a leak does not
//                    pause (docs/response.md § Danger, "Growth that lasts").
//   at the limit     a pids limit that refuses forks (pids.events "max"
//                    rising) is exhausted now (TTF 0): a storm on an idle
//                    node reaches pids.max in tens of milliseconds, between
//                    two reads, and then grows no more.
//   held back        while hosa's ceiling holds a cgroup and it keeps
//                    pressing against it (failcnt / memory.events rising,
//                    under_oom; for pids, forks refused under hosa's CPU
//                    quota), the projection from before containment
//                    stands: the demand is still there, only held.
//   let go           contained and no longer pressing nor growing for
//                    releaseS: the danger is gone and containment may relax.
//   failing          contained, yet still growing at ≥ failingRatio of the
//                    rate before containment for failingS.
import { type CpuFacts, type CpuHarmConfig, CpuHarmTracker } from "./cpu-harm.ts";
import type { Danger } from "./types.ts";

/** What the node showed about one cgroup at one tick. */
export interface CgroupFacts {
  /** Relative to the cgroup root, starting with "/". */
  path: string;
  /** Non-reclaimable memory charged to it: anon + shmem (v2 memory.stat), total_rss + total_shmem (v1). */
  anonBytes: number;
  /** Its memory limit (the original one when hosa lowered it), Infinity when none. */
  limitBytes: number;
  /** Pressing against a ceiling: v1 failcnt rising or under_oom, v2 memory.events high/max rising. */
  pressing: boolean;
  /** A memory ceiling set by hosa is in force on it. */
  contained: boolean;
  /**
   * Other watched cgroups are under it: its usage adds theirs, so a growth
   * toward the node's memory is not its own (the limit rule still holds for it).
   */
  parent?: boolean;
  /** Tasks in it and the pids limit (Infinity when none); absent when the pids controller is not there. */
  pids?: number;
  pidsMax?: number;
  /** Forks refused at a pids limit since the last read (pids.events "max" rising): the limit is reached, whether or not its rise was seen. */
  pidsPressing?: boolean;
  /** A CPU quota set by hosa holds it (how a fork storm is contained). */
  pidsContained?: boolean;
}

export interface DangerFacts {
  t: number;
  cgroups: CgroupFacts[];
  /** Node MemAvailable, bytes. */
  nodeAvailableBytes: number;
  /** CPU use and stall of the watched cgroups, on the ticks they were read (src/engine/cpu-harm.ts). */
  cpu?: CpuFacts[];
  /** I/O bytes and stall of the watched cgroups, on the same ticks. */
  io?: CpuFacts[];
}

export interface DangerConfig {
  /** Regression window, seconds. */
  windowS: number;
  /** The slope means nothing with fewer points or a shorter span. */
  minSamples: number;
  minSpanS: number;
  /** Growth below this is noise (bytes/s; pids/s for pids). */
  minMemoryRateBytesPerS: number;
  minPidsRatePerS: number;
  /** Cgroups without a limit: the growth must have lasted this long, and this share of its time to failure. */
  nodeMinLastingS: number;
  nodeLastingFraction: number;
  /** Contained and neither pressing nor growing this long: the danger is gone. */
  releaseS: number;
  failingRatio: number;
  /**
   * Growth under containment below this is what the ceiling lets through
   * (the v1 ceiling rises 2 MiB/s on purpose), never failing, bytes/s.
   */
  failingMinBytesPerS: number;
  failingS: number;
  /** A candidate this close (as a factor of the smallest TTF) in a descendant is the one named: usage is hierarchical. */
  descendantSlack: number;
  /** Memory falling this far below its peak is a release (a process gave it back): at least releaseMinBytes and releaseFraction of the peak. */
  releaseMinBytes: number;
  releaseFraction: number;
  /** A release is remembered this long: growth below the peak before it is not danger, seconds. */
  releaseMemoryS: number;
  /**
   * Memory growth toward a cgroup's own limit (time to failure T) is danger
   * once steady over a window: near (T ≤ nearS) confirmShare · T, clamped to
   * [minSpanS, confirmMaxS]; far, farLastingFraction · T. Until then it is
   * pending (vigilance). Steady: each third of the window grew at least
   * steadyRatio of the window's mean.
   */
  confirmShare: number;
  confirmMaxS: number;
  nearS: number;
  farLastingFraction: number;
  steadyRatio: number;
  /**
   * Near, when the window fails: steady over this many times the window
   * (thirds of up to 0.5 s) passes too. A leak starved of CPU grows in steps
   * (descheduled for a few tenths of a second, then catching up at once):
   * each step can fail a short window's thirds like a pause, while over
   * thirds longer than its stalls it is as steady as ever. A pause that is
   * the program's own (a compiler between two climbs, bursts with idle time
   * between) lasts longer than that, or ends the growth.
   */
  steppedWindowFactor: number;
  /** Usage history kept for the steadiness windows, seconds, one point per historyStepS at most. */
  historyS: number;
  historyStepS: number;
}

export function defaultDangerConfig(): DangerConfig {
  return {
    windowS: 1,
    minSamples: 4,
    minSpanS: 0.2,
    minMemoryRateBytesPerS: 2 * 1024 * 1024,
    minPidsRatePerS: 20,
    nodeMinLastingS: 5,
    nodeLastingFraction: 0.25,
    releaseS: 2,
    failingRatio: 0.2,
    failingMinBytesPerS: 4 * 1024 * 1024,
    failingS: 2,
    descendantSlack: 1.25,
    releaseMinBytes: 16 * 1024 * 1024,
    releaseFraction: 0.25,
    releaseMemoryS: 60,
    confirmShare: 0.05,
    confirmMaxS: 0.5,
    nearS: 60,
    farLastingFraction: 0.25,
    steadyRatio: 0.5,
    steppedWindowFactor: 3,
    historyS: 32,
    historyStepS: 0.02,
  };
}

/** Danger beyond this horizon does not slow anyone (engine.danger_horizon_s). */
export const DEFAULT_DANGER_HORIZON_S = 120;

type Resource = "memory" | "pids";

/** One resource of one cgroup over time. */
class Series {
  /** Ring of (t, value), oldest first from `head`. */
  private ts: number[] = [];
  private vs: number[] = [];
  slope = 0;
  /** Start of the current run of growth (slope above the noise), NaN when not growing. */
  growingSinceT = Number.NaN;
  lastSeenT = Number.NaN;
  /** Containment: when it started, the rate and TTF just before it. */
  containedSinceT = Number.NaN;
  rateBefore = 0;
  ttfBefore = Number.POSITIVE_INFINITY;
  /** Last time it pressed against the ceiling or grew while contained. */
  lastActiveT = Number.NaN;
  failingSinceT = Number.NaN;
  /** Last finite TTF before containment, for the held projection. */
  lastTtf = Number.POSITIVE_INFINITY;
  /** Highest value since the last release; the peak before the last release and when it happened (NaN: none). */
  runPeak = Number.NEGATIVE_INFINITY;
  priorPeak = Number.NEGATIVE_INFINITY;
  releaseT = Number.NaN;
  /** Usage history (see add) from hHead on, for the steadiness windows. */
  private hts: number[] = [];
  private hvs: number[] = [];
  private hHead = 0;

  /** Notes a release: the value fell from its peak by at least the given amount. */
  noteRelease(t: number, v: number, minBytes: number, fraction: number, memoryS: number): void {
    if (v > this.runPeak) this.runPeak = v;
    if (this.runPeak - v >= Math.max(minBytes, fraction * this.runPeak)) {
      const remembered = !Number.isNaN(this.releaseT) && t - this.releaseT <= memoryS;
      this.priorPeak = remembered ? Math.max(this.priorPeak, this.runPeak) : this.runPeak;
      this.releaseT = t;
      this.runPeak = v;
    }
  }

  /** Below the peak it had before a recent release: growth over ground already covered. */
  recovering(t: number, v: number, memoryS: number): boolean {
    return !Number.isNaN(this.releaseT) && t - this.releaseT <= memoryS && v <= this.priorPeak;
  }

  add(t: number, v: number, windowS: number, historyS: number, historyStepS: number): void {
    this.ts.push(t);
    this.vs.push(v);
    let drop = 0;
    while (drop < this.ts.length - 1 && this.ts[drop] < t - windowS) drop++;
    if (drop > 0) {
      this.ts.splice(0, drop);
      this.vs.splice(0, drop);
    }
    this.lastSeenT = t;
    // The history: the newest point always last, the others at least historyStepS apart.
    const hts = this.hts;
    const n = hts.length;
    if (n - this.hHead >= 2 && t - hts[n - 2] < historyStepS) {
      hts[n - 1] = t;
      this.hvs[n - 1] = v;
    } else {
      hts.push(t);
      this.hvs.push(v);
    }
    while (this.hHead < hts.length - 1 && hts[this.hHead] < t - historyS) this.hHead++;
    if (this.hHead >= 256 && this.hHead * 2 >= hts.length) {
      hts.splice(0, this.hHead);
      this.hvs.splice(0, this.hHead);
      this.hHead = 0;
    }
  }


  /** Time of the oldest point of the history. */
  get oldestT(): number {
    return this.hts[this.hHead];
  }

  /** Usage at time tq, interpolated in the history (clamped to its oldest and newest points). */
  valueAt(tq: number): number {
    const hts = this.hts;
    let lo = this.hHead;
    let hi = hts.length - 1;
    if (tq <= hts[lo]) return this.hvs[lo];
    if (tq >= hts[hi]) return this.hvs[hi];
    // hts[lo] < tq < hts[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (hts[mid] <= tq) lo = mid;
      else hi = mid;
    }
    const f = (tq - hts[lo]) / (hts[hi] - hts[lo]);
    return this.hvs[lo] + f * (this.hvs[hi] - this.hvs[lo]);
  }

  /**
   * The mean growth per second over [t − w, t] when it was steady there
   * (each third grew at least `ratio` of the window's mean third); NaN when it
   * paused or the history does not reach back that far.
   */
  steadyRate(t: number, w: number, ratio: number): number {
    if (!(w > 0) || this.oldestT > t - w + 1e-9) return Number.NaN;
    const a = this.valueAt(t - w);
    const b = this.valueAt(t - (2 * w) / 3);
    const c = this.valueAt(t - w / 3);
    const d = this.valueAt(t);
    const third = (d - a) / 3;
    if (!(third > 0) || b - a < ratio * third || c - b < ratio * third || d - c < ratio * third) return Number.NaN;
    return (d - a) / w;
  }

  /** Least-squares slope per second, NaN without enough points or span. */
  fit(minSamples: number, minSpanS: number): number {
    const n = this.ts.length;
    if (n < minSamples || this.ts[n - 1] - this.ts[0] < minSpanS) return Number.NaN;
    const t0 = this.ts[0];
    let st = 0;
    let sv = 0;
    for (let i = 0; i < n; i++) {
      st += this.ts[i] - t0;
      sv += this.vs[i];
    }
    const mt = st / n;
    const mv = sv / n;
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      const dt = this.ts[i] - t0 - mt;
      num += dt * (this.vs[i] - mv);
      den += dt * dt;
    }
    return den > 0 ? num / den : Number.NaN;
  }

  get last(): number {
    return this.vs[this.vs.length - 1];
  }
}

interface Candidate {
  path: string;
  resource: Resource;
  ttfS: number;
  evidence: string;
  containmentFailing: boolean;
  /** Seen, not yet steady for its window: vigilance, no containment. */
  pending: boolean;
}

const MIB = 1024 * 1024;
const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
const depth = (p: string) => (p === "/" ? 0 : p.split("/").length - 1);
const isUnder = (p: string, parent: string) => parent === "/" || p === parent || p.startsWith(`${parent}/`);

export const NO_DANGER: Readonly<Danger> = Object.freeze({
  ttfS: Number.POSITIVE_INFINITY,
  cgroup: null,
  resource: "",
  containmentFailing: false,
  evidence: "",
});

/** Feeds on one DangerFacts per tick and names the cgroup nearest to exhaustion. */
export class DangerTracker {
  readonly cfg: DangerConfig;
  private readonly series = new Map<string, Series>();
  private lastT = Number.NaN;
  private readonly cpuHarm: CpuHarmTracker;
  private readonly ioHarm: CpuHarmTracker;
  get cpuHarmConfig(): Readonly<CpuHarmConfig> {
    return this.cpuHarm.cfg;
  }

  constructor(cfg: Partial<DangerConfig> = {}, cpuHarm: Partial<CpuHarmConfig> = {}, ioHarm: Partial<CpuHarmConfig> = {}) {
    this.cfg = { ...defaultDangerConfig(), ...cfg };
    this.cpuHarm = new CpuHarmTracker({ ...cpuHarm, kind: "cpu" });
    this.ioHarm = new CpuHarmTracker({ ...ioHarm, kind: "io" });
  }

  update(facts: DangerFacts): Danger {
    const { t } = facts;
    const cfg = this.cfg;
    // Time going backwards (a new recording, a restart): forget everything.
    if (t < this.lastT) this.series.clear();
    this.lastT = t;
    const candidates: Candidate[] = [];
    for (const c of facts.cgroups) {
      const mem = this.observe(`${c.path}\0memory`, t, c.anonBytes);
      mem.noteRelease(t, c.anonBytes, cfg.releaseMinBytes, cfg.releaseFraction, cfg.releaseMemoryS);
      const m = this.judge(mem, t, c, "memory", c.anonBytes, c.limitBytes, facts.nodeAvailableBytes, c.pressing, c.contained, cfg.minMemoryRateBytesPerS);
      if (m) candidates.push(m);
      if (c.pids !== undefined && c.pidsMax !== undefined && Number.isFinite(c.pidsMax)) {
        const ps = this.observe(`${c.path}\0pids`, t, c.pids);
        const p = this.judge(ps, t, c, "pids", c.pids, c.pidsMax, Number.POSITIVE_INFINITY, c.pidsPressing === true, c.pidsContained === true, cfg.minPidsRatePerS);
        if (p) candidates.push(p);
      }
    }
    // Cgroups that vanished: their series go after a window without news.
    for (const [k, s] of this.series) if (t - s.lastSeenT > 10 * cfg.windowS) this.series.delete(k);
    const cpuHarm = this.cpuHarm.update(t, facts.cpu);
    const ioHarm = this.ioHarm.update(t, facts.io);
    const harm = cpuHarm ?? ioHarm;
    // A danger proven comes before one still pending, whatever their times to failure.
    const confirmed = candidates.filter((c) => !c.pending);
    // Exhaustion sooner than the harm's nominal time to failure comes first.
    if (harm && !confirmed.some((c) => c.ttfS < harm.ttfS)) {
      return { ttfS: harm.ttfS, cgroup: harm.culprit, resource: cpuHarm ? "cpu stall" : "io stall", containmentFailing: false, evidence: harm.evidence, ratePerS: harm.ratePerS };
    }
    const pool = confirmed.length > 0 ? confirmed : candidates;
    if (pool.length === 0) return { ...NO_DANGER };
    let best = pool[0];
    for (const c of pool) if (c.ttfS < best.ttfS || (c.ttfS === best.ttfS && depth(c.path) > depth(best.path))) best = c;
    // The parent of a leak grows as fast as the leak: name the deepest
    // descendant whose own growth explains it.
    for (const c of pool) {
      if (c.resource === best.resource && c !== best && isUnder(c.path, best.path) && depth(c.path) > depth(best.path) && c.ttfS <= best.ttfS * cfg.descendantSlack) best = c;
    }
    const out: Danger = {
      ttfS: best.ttfS,
      cgroup: best.path,
      resource: best.resource === "memory" ? "memory limit" : "pids limit",
      containmentFailing: best.containmentFailing,
      evidence: best.evidence,
    };
    if (best.pending) out.pending = true;
    return out;
  }

  private observe(key: string, t: number, v: number): Series {
    let s = this.series.get(key);
    if (!s) {
      s = new Series();
      this.series.set(key, s);
    }
    s.add(t, v, this.cfg.windowS, this.cfg.historyS, this.cfg.historyStepS);
    return s;
  }

  private judge(
    s: Series,
    t: number,
    c: CgroupFacts,
    resource: Resource,
    usage: number,
    limit: number,
    nodeAvailable: number,
    pressing: boolean,
    contained: boolean,
    minRate: number,
  ): Candidate | null {
    const cfg = this.cfg;
    // A pids limit that refuses forks is reached: exhausted now, even when
    // the storm got there between two reads and no rise was ever seen.
    const atLimit = resource === "pids" && pressing;
    let slope = s.fit(cfg.minSamples, cfg.minSpanS);
    if (Number.isNaN(slope)) {
      if (!atLimit) return null;
      slope = 0;
    }
    s.slope = slope;
    // Growth back to where it was before a release is not growth that lasts.
    const growing = slope >= minRate && !(resource === "memory" && !contained && s.recovering(t, usage, cfg.releaseMemoryS));
    if (!growing) s.growingSinceT = Number.NaN;
    else if (Number.isNaN(s.growingSinceT)) s.growingSinceT = t - cfg.minSpanS;
    const unit = resource === "memory" ? (v: number) => `${fmt(v / MIB)} MiB` : (v: number) => fmt(v, 0);
    const rateUnit = resource === "memory" ? (v: number) => `${fmt(v / MIB)} MiB/s` : (v: number) => `${fmt(v, 0)}/s`;

    // Projection from the growth measured now.
    let ttf = Number.POSITIVE_INFINITY;
    let towards = "";
    let steadiness = "";
    let pending = false;
    if (atLimit) {
      ttf = 0;
      towards = `limit ${unit(limit)} reached, forks refused`;
    } else if (growing) {
      const lastedS = t - s.growingSinceT;
      if (Number.isFinite(limit)) {
        ttf = Math.max(0, limit - usage) / slope;
        towards = `limit ${unit(limit)}`;
        if (resource === "memory" && !contained) {
          steadiness = this.steadiness(s, t, usage, limit, ttf, lastedS);
          pending = steadiness.startsWith("not");
        }
      } else if (Number.isFinite(nodeAvailable) && !c.parent) {
        const nodeTtf = Math.max(0, nodeAvailable) / slope;
        if (lastedS >= Math.max(cfg.nodeMinLastingS, cfg.nodeLastingFraction * nodeTtf)) {
          ttf = nodeTtf;
          towards = `node MemAvailable ${unit(nodeAvailable)}`;
        }
      }
    }

    if (!contained) {
      s.containedSinceT = Number.NaN;
      s.failingSinceT = Number.NaN;
      s.lastTtf = ttf;
      if (Number.isFinite(ttf)) s.rateBefore = slope;
      if (!Number.isFinite(ttf)) return null;
      return {
        path: c.path,
        resource,
        ttfS: ttf,
        containmentFailing: false,
        pending,
        evidence: atLimit
          ? `${c.path}: pids ${unit(usage)}, ${towards}: exhausted`
          : `${c.path}: ${resource === "memory" ? "anon" : "pids"} ${unit(usage)} growing ${rateUnit(slope)} for ${fmt(t - s.growingSinceT)} s${steadiness ? `, ${steadiness}` : ""}, ${towards}: ${fmt(ttf)} s to exhaustion${pending ? " if it lasts" : ""}`,
      };
    }

    // Contained by hosa.
    if (Number.isNaN(s.containedSinceT)) {
      s.containedSinceT = t;
      s.ttfBefore = s.lastTtf;
      s.lastActiveT = t;
    }
    if (pressing || growing) s.lastActiveT = t;
    const failing = s.rateBefore > 0 && slope >= cfg.failingRatio * s.rateBefore && (resource !== "memory" || slope >= cfg.failingMinBytesPerS);
    if (!failing) s.failingSinceT = Number.NaN;
    else if (Number.isNaN(s.failingSinceT)) s.failingSinceT = t;
    const containmentFailing = failing && t - s.failingSinceT >= cfg.failingS;
    if (t - s.lastActiveT >= cfg.releaseS && !Number.isFinite(ttf)) return null;
    // Held back: the demand from before containment still stands; growing
    // through the ceiling, the projection from now if it is sooner.
    const held = Number.isFinite(s.ttfBefore) ? s.ttfBefore : ttf;
    const ttfS = Math.min(held, ttf);
    if (!Number.isFinite(ttfS)) return null;
    return {
      path: c.path,
      resource,
      ttfS,
      containmentFailing,
      pending: false,
      evidence:
        `${c.path}: contained by hosa for ${fmt(t - s.containedSinceT)} s, ${pressing ? (resource === "pids" ? "forks refused at its limit" : "pressing against the ceiling") : "growing"}, ` +
        `${rateUnit(slope)} now vs ${rateUnit(s.rateBefore)} before; ${fmt(held)} s to exhaustion before containment` +
        (containmentFailing ? `; containment failing (≥ ${fmt(cfg.failingRatio * 100, 0)} % of the rate before for ${fmt(t - s.failingSinceT)} s)` : ""),
    };
  }

  /**
   * Whether a memory growth toward its own limit has proven it lasts (the
   * header's "steady"): the words for the evidence, starting with "not"
   * while it is pending.
   */
  private steadiness(s: Series, t: number, usage: number, limit: number, ttf: number, lastedS: number): string {
    const cfg = this.cfg;
    const headroom = Math.max(0, limit - usage);
    // The rate the growth kept: since it began, over at most the shortest far
    // window (a quarter of nearS): a burst inside a long slow growth (a
    // compiler passing from one phase to the next) does not make it near.
    const since = Math.max(s.growingSinceT, s.oldestT, t - cfg.farLastingFraction * cfg.nearS);
    const keptRate = t > since ? (usage - s.valueAt(since)) / (t - since) : Number.NaN;
    // Near: a window of a share of its time to failure, steady, and near both
    // at the window's mean rate and at the rate kept.
    const w = Math.min(cfg.confirmMaxS, Math.max(cfg.minSpanS, cfg.confirmShare * ttf));
    if (lastedS >= w - 1e-9) {
      const r = Math.min(s.steadyRate(t, w, cfg.steadyRatio), keptRate);
      if (r > 0 && headroom / r <= cfg.nearS) return `steady over the last ${fmt(w, 2)} s`;
      // In steps (a leak starved of CPU): steady over a few windows.
      const w3 = cfg.steppedWindowFactor * w;
      if (w3 > w && lastedS >= w3 - 1e-9) {
        const r3 = Math.min(s.steadyRate(t, w3, cfg.steadyRatio), keptRate);
        if (r3 > 0 && headroom / r3 <= cfg.nearS) return `steady over the last ${fmt(w3, 2)} s (in steps over ${fmt(w, 2)} s)`;
      }
    }
    // Far: steady over a quarter of its time to failure at the rate kept.
    const far = keptRate > 0 ? cfg.farLastingFraction * (headroom / keptRate) : Number.POSITIVE_INFINITY;
    if (far <= cfg.historyS && lastedS >= far && s.steadyRate(t, far, cfg.steadyRatio) > 0) return `steady over the last ${fmt(far)} s (a quarter of its time to failure)`;
    return `not yet steady over ${fmt(w, 2)} s (${fmt(cfg.nearS, 0)} s or nearer) or ${fmt(far)} s`;
  }
}
