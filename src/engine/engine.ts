// The detection engine: (state, sample) -> decision, pure. No I/O, no clock
// (time is sample.t), no globals, no randomness: the same samples give the
// same decisions bit for bit, which is what makes replay, tests and the
// benchmark honest. The hot path allocates nothing: every buffer, and the
// returned Decision itself, belong to the state and are reused.
//
// The levels follow document 004 (§2–§11):
//   escalation  L1  D̄_M > θ1, or a sustained rise of D̄_M (dD̄_M/dt > 0 for
//                   sustainS and by at least sustainRiseSigmas·dmStd)
//               L2  D̄_M > θ2 and dD̄_M/dt > 0
//               L3  D̄_M > θ3 and d²D̄_M/dt² > 0
//               L4  D̄_M > θ4, or TTF < ttfCriticalS while D̄_M > θ1
//               L5  at L3–L4 with dD̄_M/dt > 0 continuously for
//                   quarantineAfterS (containment is failing), or the
//                   propagation index above icpCritical
//   de-escalation is one level at a time, after the de-escalation condition
//   held for the level's hold (a fresh hold at each level):
//               1->0  D̄_M < θ1 and no sustained rise   holdS[0] (10 s)
//               2->1  D̄_M < θ1                         holdS[1] (30 s)
//               3->2  D̄_M < θ2                         holdS[2] (60 s)
//               4->3  D̄_M < θ3                         holdS[3] (5 min)
//   Between the escalation threshold of a level and its de-escalation
//   threshold lies the dead zone: the level holds there indefinitely.
//   Level 5 is left only by releaseQuarantine(), which lands on Level 3.
//
// Three guards against false alarms, measured in bench/engine-results.md
// (one hour of pure noise: 3 escalations into Level 3 without them, none
// with them; the leak of document 004 §13 still reaches Level 2–4 in well
// under 2 s):
//   spike filter  D_M passes a running median of three samples before the
//                 EWMA (Tukey's median smoother). One wild sample (a counter
//                 wrap, a rate over a tiny Δt) otherwise lifts D̄_M above θ4
//                 for up to a second by the EWMA's memory alone, which no
//                 dwell shorter than that can tell from a real event. Cost:
//                 one sample of latency (10 ms in vigilance).
//   persistence   Level N ≥ 2 is entered only once its threshold part (D̄_M
//                 > θN, or TTF critical; for L5 its own condition) has held
//                 at every sample for escalateAfterS[N−1] seconds of sample
//                 time, and its whole condition (trend included) holds now.
//                 The dwell is on the magnitude and not on the derivatives:
//                 d²D̄_M/dt² of a real ramp flickers around 0 under noise,
//                 while a noise excursion above θ3 lasts about τ (0.3 s).
//                 Escalation still goes to the highest admitted level, so
//                 a violent event climbs 0 -> 4 in escalateAfterS[3] (0.5 s).
//   emergency     no dwell (Levels 1–4) when D̄_M > emergencyFactor·θ4 or
//                 TTF < ttfCriticalS/2 (with D̄_M > θ1): that far out, or
//                 that close to exhaustion, half a second is worth more
//                 than certainty. The spike filter keeps one sample from
//                 getting there.
//   hold grace    a de-escalation hold is reset only by an excursion back
//                 above its threshold lasting longer than holdGraceS; the
//                 clock keeps running through shorter ones (noise crosses
//                 θ3 every minute or so at 10 ms ticks, and a 5 min hold
//                 reset by each crossing would never end). The step down
//                 itself still needs D̄_M below the threshold at that sample.
import type { HosaConfig } from "../config.ts";
import { EXIT, HosaError } from "../errors.ts";
import { computeShares, loadDirection, selectDominant } from "./contributions.ts";
import { Ewma } from "./ewma.ts";
import { Mahalanobis, mahalanobisOptions } from "./mahalanobis.ts";
import { Median3 } from "./median.ts";
import { classifyRegime, type RegimeInputs } from "./regime.ts";
import { LEVEL_NAMES, type Baseline, type Contribution, type Decision, type DimensionSpec, type Level, type Sample } from "./types.ts";
import { Welford } from "./welford.ts";

export interface EngineConfig {
  /** Time constant of the EWMA on D_M (and φ, propagation), seconds. */
  ewmaTauS: number;
  /** Covariance shrinkage toward its diagonal, 0..1. */
  shrinkage: number;
  /** Half-life of the baseline's memory while learning, seconds; 0 keeps everything. */
  forgettingHalfLifeS: number;
  /** θk = dmMean + sigma_k·dmStd. */
  thresholdSigmas: [number, number, number, number];
  /** Hold before 1->0, 2->1, 3->2, 4->3, seconds. */
  holdS: [number, number, number, number];
  /** Level 4 when a resource is exhausted sooner than this, seconds. */
  ttfCriticalS: number;
  /** Level 1 on a rise of D̄_M lasting this long, seconds... */
  sustainS: number;
  /** ...and amounting to at least this many dmStd. */
  sustainRiseSigmas: number;
  /** Level 5 when D̄_M keeps rising this long at Level 3–4, seconds. */
  quarantineAfterS: number;
  /** Level 5 when the smoothed propagation index (σ above baseline of a propagation dimension) exceeds this. */
  icpCritical: number;
  /** Hold times are multiplied by this while d²D̄_M/dt² < −relaxAccelPerS2; 1 disables (document 004 §11: off by default). */
  relaxFactor: number;
  relaxAccelPerS2: number;
  /** Time constant of the level and slope of exhaustible dimensions for TTF, seconds. */
  ttfTauS: number;
  /**
   * A dimension counts for TTF only once it is this many σ off its baseline
   * toward capacity: within its normal range a slope is noise, and noise
   * extrapolated is a false "exhaustion in 20 s".
   */
  ttfMinSigmas: number;
  /** How many dominant dimensions a decision carries. */
  topK: number;
  /** φ at or below −phiIdle is idleness; at or below −phiSilence with D̄_M > θ2, anomalous silence. */
  phiIdle: number;
  phiSilence: number;
  /** Idleness lasting this long is structural (regime −2), seconds. */
  structuralIdleS: number;
  /** Variance floors of the Mahalanobis covariance (see mahalanobis.ts). */
  stdFloorRel: number;
  stdFloorAbs: number;
  /**
   * Refactorise the learned covariance every this many learned samples. One
   * sample moves Σ by O(1/W) (W ≥ thousands after calibration) while the
   * O(n³) factorisation dominates the step; 1 refactors every sample.
   */
  refactorEvery: number;
  /** Smallest dmStd a calibration reports, so θ1 < θ2 < θ3 < θ4 even on a perfectly constant node. */
  dmStdFloor: number;
  /** D_M passes a running median of three samples before the EWMA (see the header); calibration does the same. */
  dmMedianOf3: boolean;
  /** Seconds the threshold part of Level 1..5's condition must hold before the level is entered. */
  escalateAfterS: [number, number, number, number, number];
  /** No dwell for Levels 1–4 when D̄_M exceeds this multiple of θ4 (or TTF < ttfCriticalS/2). */
  emergencyFactor: number;
  /** An excursion above the de-escalation threshold resets the hold only when it lasts longer than this, seconds. */
  holdGraceS: number;
  /**
   * Tail probabilities of the calibration floors of θ1..θ4 (see calibrate.ts):
   * by default the normal upper tails of 2, 3, 4 and 5 σ, which is what
   * document 004's "kσ" promises; empty disables the floors.
   */
  floorTailProbabilities: number[];
  /**
   * Absolute floors of θ1..θ4. D_M is counted in standard deviations, and
   * with the dimensions' noise floors (DimensionSpec.noiseFloor) an idle
   * node learns a distance near 0 and a threshold just above it; a
   * deviation under one meaningful σ is never an anomaly.
   */
  thresholdFloors: number[];
}

export function defaultEngineConfig(): EngineConfig {
  return {
    ewmaTauS: 0.3,
    shrinkage: 0.05,
    forgettingHalfLifeS: 0,
    thresholdSigmas: [2, 3, 4, 5],
    holdS: [10, 30, 60, 300],
    ttfCriticalS: 30,
    sustainS: 2,
    sustainRiseSigmas: 1,
    quarantineAfterS: 60,
    icpCritical: 10,
    relaxFactor: 1,
    relaxAccelPerS2: 1,
    ttfTauS: 1,
    ttfMinSigmas: 3,
    topK: 3,
    phiIdle: 1,
    phiSilence: 2,
    structuralIdleS: 3600,
    stdFloorRel: 1e-6,
    stdFloorAbs: 1e-6,
    dmStdFloor: 1e-3,
    refactorEvery: 8,
    dmMedianOf3: true,
    escalateAfterS: [0, 0.3, 0.5, 0.5, 0.5],
    emergencyFactor: 3,
    holdGraceS: 2,
    floorTailProbabilities: [1e-4, 1e-5, 1e-6, 1e-7],
    thresholdFloors: [1, 1.5, 2, 2.5],
  };
}

/** The engine section of hosa.toml over the defaults of the knobs it does not name. */
export function engineConfigFrom(cfg: HosaConfig["engine"]): EngineConfig {
  const fail = (what: string): never => {
    throw new HosaError(`cannot use [engine] configuration: ${what}`, EXIT.CONFIG);
  };
  const s = cfg.thresholdSigmas;
  if (s.length !== 4 || !s.every(Number.isFinite)) fail("threshold_sigmas must be 4 numbers");
  if (!(s[0] < s[1] && s[1] < s[2] && s[2] < s[3])) fail(`threshold_sigmas must rise strictly, found [${s.join(", ")}]`);
  if (cfg.holdS.length !== 4 || !cfg.holdS.every((h) => Number.isFinite(h) && h >= 0)) fail("hold_s must be 4 non-negative numbers");
  if (!(cfg.shrinkage >= 0 && cfg.shrinkage <= 1)) fail(`shrinkage must be within 0..1, found ${cfg.shrinkage}`);
  if (!(cfg.ewmaTauS >= 0)) fail(`ewma_tau_s must be ≥ 0, found ${cfg.ewmaTauS}`);
  if (!(cfg.forgettingHalfLifeS >= 0)) fail(`forgetting_half_life_s must be ≥ 0, found ${cfg.forgettingHalfLifeS}`);
  if (!(cfg.ttfCriticalS >= 0)) fail(`ttf_critical_s must be ≥ 0, found ${cfg.ttfCriticalS}`);
  const dwell = cfg.escalateAfterS;
  if (dwell.length !== 5 || !dwell.every((v) => Number.isFinite(v) && v >= 0)) fail("escalate_after_s must be 5 non-negative numbers");
  if (!(cfg.holdGraceS >= 0)) fail(`hold_grace_s must be ≥ 0, found ${cfg.holdGraceS}`);
  return {
    ...defaultEngineConfig(),
    ewmaTauS: cfg.ewmaTauS,
    shrinkage: cfg.shrinkage,
    forgettingHalfLifeS: cfg.forgettingHalfLifeS,
    thresholdSigmas: [s[0], s[1], s[2], s[3]],
    holdS: [cfg.holdS[0], cfg.holdS[1], cfg.holdS[2], cfg.holdS[3]],
    ttfCriticalS: cfg.ttfCriticalS,
    escalateAfterS: [dwell[0], dwell[1], dwell[2], dwell[3], dwell[4]],
    holdGraceS: cfg.holdGraceS,
  };
}

/** Opaque to callers: pass it back to step(). */
export interface EngineState {
  readonly dims: readonly DimensionSpec[];
  readonly config: EngineConfig;
}

const LN2 = Math.LN2;

// Numbers in reasons have two decimals, as in document 004's log examples;
// the exact values travel in the decision's own fields.
function num(v: number): string {
  if (v === Infinity) return "∞";
  return v.toFixed(2);
}
function signed(v: number): string {
  return (v >= 0 ? "+" : "") + v.toFixed(2);
}

class Engine implements EngineState {
  readonly dims: readonly DimensionSpec[];
  readonly config: EngineConfig;
  readonly n: number;
  readonly names: string[];
  readonly thresholds: { theta1: number; theta2: number; theta3: number; theta4: number };
  readonly dmStd: number;
  readonly welford: Welford;
  readonly maha: Mahalanobis;
  readonly covariance: Float64Array;
  readonly shares: Float64Array;
  readonly order: Int32Array;
  readonly signs: Float64Array;
  readonly signNorm: number;
  readonly propagationDims: Int32Array;
  readonly capacityDims: Int32Array;
  readonly capacitySide: Float64Array;
  readonly dmEwma: Ewma;
  readonly phiEwma: Ewma;
  readonly icpEwma: Ewma;
  readonly levelEwmas: Ewma[];
  readonly regimeInputs: RegimeInputs;
  readonly decision: Decision;

  lastT = NaN;
  level: Level = 0;
  /** Start of the current de-escalation hold, NaN when none runs. */
  holdStartT = NaN;
  holdReason = "";
  /** Start of the current excursion above the de-escalation threshold during a hold (hold grace), NaN when below. */
  aboveSinceT = NaN;
  /** The two previous raw distances, for the running median of three. */
  dmMedian: Median3;
  icpMedian = new Median3();
  /** Per level 1..5 (index 0 unused): start of the current unbroken run of its threshold part, NaN when it does not hold. */
  readonly escalateSinceT = new Float64Array(6).fill(NaN);
  /** Start and D̄_M at the start of the current rise of D̄_M (L1 sustained-rise rule). */
  riseStartT = NaN;
  riseStartDm = 0;
  /** Start of the current rise of D̄_M at Level 3–4 (L5 rule). */
  risingAtContainmentT = NaN;
  idleStartT = NaN;
  icpDim = 0;
  learnedSinceFactor = 0;

  constructor(baseline: Baseline, cfg: EngineConfig) {
    const n = baseline.dims.length;
    this.dims = baseline.dims;
    this.config = cfg;
    this.n = n;
    this.names = baseline.dims.map((d) => d.name);
    this.thresholds = { ...baseline.thresholds };
    this.dmStd = baseline.dmStd;
    this.welford = Welford.fromCovariance(baseline.mean, baseline.covariance, baseline.count);
    this.maha = new Mahalanobis(n, mahalanobisOptions(cfg, baseline.dims));
    this.covariance = Float64Array.from(baseline.covariance);
    this.maha.factor(this.welford.mean, this.covariance);
    this.shares = new Float64Array(n);
    const k = Math.max(1, Math.min(Math.floor(cfg.topK), n));
    this.order = new Int32Array(k);
    this.signs = Float64Array.from(baseline.dims, (d) => d.loadSign);
    this.signNorm = Math.sqrt(this.signs.reduce((a, s) => a + s * s, 0));
    const prop: number[] = [];
    const cap: number[] = [];
    baseline.dims.forEach((d, j) => {
      if (d.propagation) prop.push(j);
      if (d.capacity !== undefined && Number.isFinite(d.capacity)) cap.push(j);
    });
    this.propagationDims = Int32Array.from(prop);
    this.capacityDims = Int32Array.from(cap);
    // Which side of the capacity the node normally lives on: a used ratio
    // approaches 1 from below, free memory approaches 0 from above.
    this.capacitySide = Float64Array.from(cap, (j) => {
      const c = baseline.dims[j].capacity as number;
      const m = baseline.mean[j];
      if (c > m) return 1;
      if (c < m) return -1;
      return baseline.dims[j].loadSign < 0 ? -1 : 1;
    });
    // Smoothed signals start where the baseline says the node lives, so the
    // first sample (one draw of the raw, noisier distance) cannot raise an alarm alone.
    this.dmEwma = new Ewma(cfg.ewmaTauS);
    this.dmEwma.prime(baseline.dmMean);
    // The median's history starts there too: one wild first sample is filtered like any other.
    this.dmMedian = new Median3(baseline.dmMean);
    this.phiEwma = new Ewma(cfg.ewmaTauS);
    this.phiEwma.prime(0);
    this.icpEwma = new Ewma(cfg.ewmaTauS);
    this.icpEwma.prime(0);
    this.levelEwmas = cap.map(() => new Ewma(cfg.ttfTauS));
    this.regimeInputs = { dm: 0, derivative: 0, acceleration: 0, phi: 0, ttfCritical: false, propagating: false, idleForS: 0 };
    const dominant: Contribution[] = [];
    for (let i = 0; i < k; i++) dominant.push({ dim: this.names[i], share: 0 });
    this.decision = {
      t: NaN,
      level: 0,
      levelName: LEVEL_NAMES[0],
      previousLevel: 0,
      dmRaw: 0,
      dm: 0,
      dmDerivative: 0,
      dmAcceleration: 0,
      phi: 0,
      regime: 0,
      dominant,
      thresholds: this.thresholds,
      ttfS: Infinity,
      ttfDim: null,
      reason: "",
      learning: false,
    };
  }
}

function checkBaseline(b: Baseline): void {
  const fail = (what: string): never => {
    throw new HosaError(`cannot start the engine: baseline ${what}`, EXIT.INPUT);
  };
  if (b.version !== 1) fail(`version ${b.version} is not 1`);
  const n = b.dims.length;
  if (n === 0) fail("has no dimensions");
  if (b.mean.length !== n) fail(`mean has ${b.mean.length} values for ${n} dimensions`);
  if (b.covariance.length !== n * n) fail(`covariance has ${b.covariance.length} values, expected ${n * n}`);
  if (!b.mean.every(Number.isFinite) || !b.covariance.every(Number.isFinite)) fail("holds a non-finite number");
  const th = b.thresholds;
  if (![th.theta1, th.theta2, th.theta3, th.theta4].every(Number.isFinite)) fail("thresholds are not finite");
}

export function createEngine(baseline: Baseline, cfg: EngineConfig): EngineState {
  checkBaseline(baseline);
  return new Engine(baseline, cfg);
}

export function currentLevel(state: EngineState): Level {
  return (state as Engine).level;
}

/** A copy of a decision that the next step() will not change. */
export function snapshotDecision(d: Decision): Decision {
  return {
    ...d,
    dominant: d.dominant.map((c) => ({ dim: c.dim, share: c.share })),
    thresholds: { ...d.thresholds },
  };
}

/** Threshold below which level L (1..4) starts its de-escalation hold. */
function deescalationTheta(e: Engine, level: Level): number {
  const th = e.thresholds;
  return level <= 2 ? th.theta1 : level === 3 ? th.theta2 : th.theta3;
}
const DEESCALATION_THETA_NAME = ["", "θ1", "θ1", "θ2", "θ3"];

export function step(state: EngineState, sample: Sample): Decision {
  const e = state as Engine;
  const cfg = e.config;
  const n = e.n;
  const x = sample.x;
  const t = sample.t;
  if (x.length !== n) {
    throw new HosaError(`engine: sample at t=${t} has ${x.length} values, the baseline has ${n} dimensions`, EXIT.INPUT);
  }
  const lastT = e.lastT;
  if (!Number.isFinite(t) || t < lastT) {
    throw new HosaError(`engine: sample time goes backwards or is not a number: t=${t} after t=${lastT}`, EXIT.INPUT);
  }
  const dt = lastT === lastT ? t - lastT : 0;
  e.lastT = t;

  const maha = e.maha;
  const dmRaw = Math.sqrt(maha.distance2(x));
  let dmIn = dmRaw;
  // A repeated timestamp carries no time (the EWMA ignores it), so it does not enter the median's history either.
  if (cfg.dmMedianOf3 && dt > 0) dmIn = e.dmMedian.next(dmRaw);
  e.dmEwma.update(t, dmIn);
  const dm = e.dmEwma.value;
  const d1 = e.dmEwma.derivative;
  const d2 = e.dmEwma.acceleration;
  const th = e.thresholds;
  const d = e.decision;

  computeShares(maha.delta, maha.solved, e.shares);
  selectDominant(e.shares, e.names, e.order, d.dominant);
  e.phiEwma.update(t, loadDirection(maha.delta, maha.invStd, e.signs, e.signNorm));
  const phi = e.phiEwma.value;

  // Propagation index: the largest upward deviation, in σ, of a propagation dimension.
  let icpRaw = 0;
  const prop = e.propagationDims;
  for (let i = 0; i < prop.length; i++) {
    const j = prop[i];
    const z = maha.delta[j] * maha.invStd[j];
    if (z > icpRaw) {
      icpRaw = z;
      e.icpDim = j;
    }
  }
  // The same median as for D_M, so one burst sample of forks cannot quarantine the node.
  let icpIn = icpRaw;
  if (cfg.dmMedianOf3 && dt > 0) icpIn = e.icpMedian.next(icpRaw);
  e.icpEwma.update(t, icpIn);
  const icp = e.icpEwma.value;

  // TTF: extrapolate each exhaustible dimension's own smoothed slope to its
  // capacity, for the dimensions already off baseline toward it.
  let ttf = Infinity;
  let ttfDim: string | null = null;
  const cap = e.capacityDims;
  for (let i = 0; i < cap.length; i++) {
    const j = cap[i];
    const lev = e.levelEwmas[i];
    const xj = x[j];
    if (Number.isFinite(xj)) lev.update(t, xj);
    if (lev.value !== lev.value) continue;
    const side = e.capacitySide[i];
    if (side * maha.delta[j] * maha.invStd[j] < cfg.ttfMinSigmas) continue;
    const gap = (e.dims[j].capacity as number) - lev.value;
    let ttfJ = Infinity;
    if (gap * side <= 0) ttfJ = 0;
    else if (lev.derivative * side > 0) ttfJ = gap / lev.derivative;
    if (ttfJ < ttf) {
      ttf = ttfJ;
      ttfDim = e.names[j];
    }
  }
  const ttfCritical = ttf < cfg.ttfCriticalS && dm > th.theta1;

  // Rise bookkeeping for the L1 (sustained rise) and L5 (failing containment) rules.
  if (d1 > 0) {
    if (e.riseStartT !== e.riseStartT) {
      e.riseStartT = t;
      e.riseStartDm = dm;
    }
  } else {
    e.riseStartT = NaN;
  }
  const sustainedRise = e.riseStartT === e.riseStartT && t - e.riseStartT >= cfg.sustainS && dm - e.riseStartDm >= cfg.sustainRiseSigmas * e.dmStd;
  if (d1 > 0 && e.level >= 3 && e.level <= 4) {
    if (e.risingAtContainmentT !== e.risingAtContainmentT) e.risingAtContainmentT = t;
  } else {
    e.risingAtContainmentT = NaN;
  }
  const propagating = icp > cfg.icpCritical;

  const failingContainment = e.risingAtContainmentT === e.risingAtContainmentT && t - e.risingAtContainmentT >= cfg.quarantineAfterS;

  // Persistence clocks: for each level, since when its threshold part has
  // held at every sample. They run at every level, so a node already at
  // Level 2 has its Level 3 dwell counted from when D̄_M crossed θ3.
  const since = e.escalateSinceT;
  for (let k = 1; k <= 5; k++) {
    let holds: boolean;
    if (k === 5) holds = propagating || failingContainment;
    else if (k === 1) holds = dm > th.theta1 || sustainedRise || ttfCritical;
    else holds = dm > (k === 2 ? th.theta2 : k === 3 ? th.theta3 : th.theta4) || ttfCritical;
    if (!holds) since[k] = NaN;
    else if (since[k] !== since[k]) since[k] = t;
  }

  const prev = e.level;
  let level: Level = prev;
  let reason = "";
  if (prev !== 5) {
    // The highest level whose whole escalation condition holds now...
    let now: Level = 0;
    if (propagating || failingContainment) now = 5;
    else if (dm > th.theta4 || ttfCritical) now = 4;
    else if (dm > th.theta3 && d2 > 0) now = 3;
    else if (dm > th.theta2 && d1 > 0) now = 2;
    else if (dm > th.theta1 || sustainedRise) now = 1;
    // ...and the highest of those levels whose threshold part has lasted its dwell.
    const emergency = dm > cfg.emergencyFactor * th.theta4 || (ttfCritical && ttf < cfg.ttfCriticalS / 2);
    let target: Level = prev;
    for (let k = now; k > prev; k--) {
      if ((emergency && k <= 4) || t - since[k] >= cfg.escalateAfterS[k - 1]) {
        target = k as Level;
        break;
      }
    }

    if (target > prev) {
      level = target;
      reason = `Level ${prev} → ${target}: ${escalationReason(e, target, dm, d1, d2, icp, ttf, ttfDim, t)}${dwellReason(e, target, dm, ttf, emergency, t)}`;
      e.holdStartT = NaN;
      e.holdReason = "";
      e.aboveSinceT = NaN;
    } else if (prev > 0) {
      const theta = deescalationTheta(e, prev);
      const below = dm < theta && !(prev === 1 && sustainedRise);
      if (below) {
        e.aboveSinceT = NaN;
        if (e.holdStartT !== e.holdStartT) {
          e.holdStartT = t;
          e.holdReason = `Level ${prev} → ${prev - 1} waits: D_M ${num(dm)} < ${DEESCALATION_THETA_NAME[prev]} ${num(theta)} since t=${t}, hold ${cfg.holdS[prev - 1]} s`;
        }
        let hold = cfg.holdS[prev - 1];
        if (cfg.relaxFactor !== 1 && d2 < -cfg.relaxAccelPerS2) hold *= cfg.relaxFactor;
        const heldS = t - e.holdStartT;
        if (heldS >= hold) {
          level = (prev - 1) as Level;
          reason = `Level ${prev} → ${level}: D_M ${num(dm)} < ${DEESCALATION_THETA_NAME[prev]} ${num(theta)} for ${num(heldS)} s (hold ${num(hold)} s)`;
          // A fresh hold for the next level down, starting now if its condition already holds.
          e.holdStartT = NaN;
          e.holdReason = "";
          if (level > 0) {
            const nextTheta = deescalationTheta(e, level);
            if (dm < nextTheta && !(level === 1 && sustainedRise)) {
              e.holdStartT = t;
              e.holdReason = `Level ${level} → ${level - 1} waits: D_M ${num(dm)} < ${DEESCALATION_THETA_NAME[level]} ${num(nextTheta)} since t=${t}, hold ${cfg.holdS[level - 1]} s`;
            }
          }
        } else {
          reason = e.holdReason;
        }
      } else if (e.holdStartT === e.holdStartT) {
        // Hold grace: a brief excursion above the threshold leaves the hold running.
        if (e.aboveSinceT !== e.aboveSinceT) e.aboveSinceT = t;
        const aboveS = t - e.aboveSinceT;
        if (aboveS >= cfg.holdGraceS) {
          reason = `Level ${prev} hold reset: D_M ${num(dm)} ≥ ${DEESCALATION_THETA_NAME[prev]} ${num(theta)}${prev === 1 && sustainedRise ? " or still rising" : ""} for ${num(aboveS)} s (grace ${num(cfg.holdGraceS)} s) after ${num(t - e.holdStartT)} s of hold`;
          e.holdStartT = NaN;
          e.holdReason = "";
          e.aboveSinceT = NaN;
        } else {
          reason = e.holdReason;
        }
      }
    }
  }
  e.level = level;

  // Idleness duration for the structural-idleness regime.
  if (phi <= -cfg.phiIdle) {
    if (e.idleStartT !== e.idleStartT) e.idleStartT = t;
  } else {
    e.idleStartT = NaN;
  }
  const ri = e.regimeInputs;
  ri.dm = dm;
  ri.derivative = d1;
  ri.acceleration = d2;
  ri.phi = phi;
  ri.ttfCritical = ttfCritical;
  ri.propagating = propagating;
  ri.idleForS = e.idleStartT === e.idleStartT ? t - e.idleStartT : 0;
  const regime = classifyRegime(ri, th, cfg);

  // Learn only in homeostasis, and only from a complete sample that was
  // judged (the first sample and a repeated timestamp carry no time, so the
  // smoothed distance has not weighed them): an anomaly must never teach the
  // baseline that it is normal.
  // The spike filter hides one wild sample from D̄_M, not from learning: a
  // sample that alone is as far out as an emergency is never learned (one
  // 1000 σ sample would add 1000²/W to a variance learned from W samples).
  let learning = level === 0 && dm < th.theta1 && dt > 0 && dmRaw <= cfg.emergencyFactor * th.theta4;
  if (learning) {
    for (let j = 0; j < n; j++) {
      const v = x[j];
      if (!(v - v === 0)) {
        learning = false;
        break;
      }
    }
  }
  if (learning) {
    // Forgetting by the real time since the previous sample, so the half-life
    // means the same at 10 ms and 100 ms ticks; time spent in an anomaly (not
    // learned) does not erode the baseline either.
    const decay = cfg.forgettingHalfLifeS > 0 ? Math.exp((-LN2 * dt) / cfg.forgettingHalfLifeS) : 1;
    e.welford.update(x, decay);
    if (++e.learnedSinceFactor >= cfg.refactorEvery) {
      e.learnedSinceFactor = 0;
      maha.factor(e.welford.mean, e.welford.covarianceInto(e.covariance));
    }
  }

  d.t = t;
  d.level = level;
  d.levelName = LEVEL_NAMES[level];
  d.previousLevel = prev;
  d.dmRaw = dmRaw;
  d.dm = dm;
  d.dmDerivative = d1;
  d.dmAcceleration = d2;
  d.phi = phi;
  d.regime = regime;
  d.ttfS = ttf;
  d.ttfDim = ttfDim;
  d.reason = reason;
  d.learning = learning;
  return d;
}

function escalationReason(
  e: Engine,
  target: Level,
  dm: number,
  d1: number,
  d2: number,
  icp: number,
  ttf: number,
  ttfDim: string | null,
  t: number,
): string {
  const th = e.thresholds;
  const cfg = e.config;
  switch (target) {
    case 5:
      if (icp > cfg.icpCritical) return `propagation index ${num(icp)} σ > ${num(cfg.icpCritical)} on ${e.names[e.icpDim]}`;
      return `D_M ${num(dm)} still rising (${signed(d1)}/s) for ${num(cfg.quarantineAfterS)} s at Level ${e.level} despite containment`;
    case 4:
      if (dm > th.theta4) return `D_M ${num(dm)} > θ4 ${num(th.theta4)}`;
      return `time to failure of ${ttfDim} ${num(ttf)} s < ${num(cfg.ttfCriticalS)} s and D_M ${num(dm)} > θ1 ${num(th.theta1)}`;
    case 3:
      return `D_M ${num(dm)} > θ3 ${num(th.theta3)} and acceleration ${signed(d2)}/s² > 0`;
    case 2:
      return `D_M ${num(dm)} > θ2 ${num(th.theta2)} and derivative ${signed(d1)}/s > 0`;
    default:
      if (dm > th.theta1) return `D_M ${num(dm)} > θ1 ${num(th.theta1)}`;
      return `D_M rising for ${num(t - e.riseStartT)} s (≥ ${num(cfg.sustainS)} s) by ${signed(dm - e.riseStartDm)} (≥ ${num(cfg.sustainRiseSigmas * e.dmStd)}), derivative ${signed(d1)}/s > 0`;
  }
}

/** How the level was admitted: after its dwell, or at once in an emergency; nothing when it has no dwell. */
function dwellReason(e: Engine, target: Level, dm: number, ttf: number, emergency: boolean, t: number): string {
  const cfg = e.config;
  const dwell = cfg.escalateAfterS[target - 1];
  const heldS = t - e.escalateSinceT[target];
  if (emergency && target <= 4 && !(heldS >= dwell)) {
    const f = cfg.emergencyFactor;
    if (dm > f * e.thresholds.theta4) return `; emergency, no dwell: D_M ${num(dm)} > ${num(f)}×θ4 ${num(f * e.thresholds.theta4)}`;
    return `; emergency, no dwell: time to failure ${num(ttf)} s < ${num(cfg.ttfCriticalS / 2)} s`;
  }
  if (!(dwell > 0)) return "";
  return `; held ${num(heldS)} s ≥ ${num(dwell)} s`;
}

/**
 * The operator's way out of Level 5: the engine goes to Level 3 (containment
 * stays on) with a fresh hold, never straight to Level 0; the ordinary
 * de-escalation takes it down from there.
 */
export function releaseQuarantine(state: EngineState, t: number): Decision {
  const e = state as Engine;
  if (e.level !== 5) {
    throw new HosaError(`cannot release quarantine: the engine is at Level ${e.level} (${LEVEL_NAMES[e.level]}), not Level 5`, EXIT.USAGE);
  }
  if (!(t >= e.lastT) && e.lastT === e.lastT) {
    throw new HosaError(`cannot release quarantine: t=${t} is before the last sample t=${e.lastT}`, EXIT.USAGE);
  }
  e.level = 3;
  e.aboveSinceT = NaN;
  // A fresh hold: the 60 s toward Level 2 count from the release, never from before it.
  e.holdStartT = NaN;
  e.holdReason = "";
  const dm = e.dmEwma.value;
  if (dm < e.thresholds.theta2) {
    e.holdStartT = t;
    e.holdReason = `Level 3 → 2 waits: D_M ${num(dm)} < θ2 ${num(e.thresholds.theta2)} since t=${t}, hold ${e.config.holdS[2]} s`;
  }
  e.risingAtContainmentT = NaN;
  e.riseStartT = NaN;
  const d = e.decision;
  d.t = t;
  d.previousLevel = 5;
  d.level = 3;
  d.levelName = LEVEL_NAMES[3];
  d.reason = "Level 5 → 3: quarantine released by the operator; containment stays at Level 3 until D_M < θ2 for the hold";
  d.learning = false;
  return d;
}
