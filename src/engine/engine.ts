// The detection engine: (state, sample) -> decision, pure. No I/O, no clock
// (time is sample.t), no globals, no randomness: the same samples give the
// same decisions bit for bit, which is what makes replay, tests and the
// benchmark honest. The hot path allocates nothing in homeostasis: every
// buffer, and the returned Decision itself, belong to the state and are
// reused (a danger's evidence line is built only while a danger holds).
//
// Surprise is not danger (docs/levels.md §1). The levels:
//   L1  D̄_M > θ1, or Z > ζ1 (one dimension), or one raw sample of D_M
//       beyond θ1s (a short event of large magnitude), or a significant
//       sustained rise of D_M by the normal range θ1 − mean, or a danger
//       (vigilance: the agent samples faster while the danger's dwell runs)
//   L2  D̄_M > θ2 and D_M significantly rising
//   L3  a danger (time to failure < dangerHorizonS) held for its dwell
//   L4  a danger with time to failure < ttfCriticalS, or D̄_M > θ4 with a danger
//   L5  at Level 4, D̄_M > θ4 and containment failing, held quarantineAfterS
// Surprise alone (D̄_M against θ) reaches at most Level 2; Level 5 is left
// only by releaseQuarantine(). De-escalation is one level at a time after a
// hold (docs/levels.md §3 has the table); a hold is reset only when its
// level's condition is back for longer than a grace.
//
// Every time constant spans time AND samples (docs/engine.md §2): the EWMA's
// τ is at least ewmaMinSamples steps, every dwell, hold and grace needs
// minSamples samples besides its seconds, and slopes come from a regression
// over a window of at least derivMinSamples samples (docs/engine.md §3), so
// the engine means the same at 10 ms ticks and at 5-minute exports.
import { EXIT, HosaError } from "../errors.ts";
import { computeShares, selectDominant } from "./contributions.ts";
import { exp } from "./detmath.ts";
import { AlphaMemo, ewmaAlpha } from "./ewma.ts";
import { Mahalanobis, mahalanobisOptions } from "./mahalanobis.ts";
import { Median3 } from "./median.ts";
import { DimSurprise } from "./surprise.ts";
import { ShiftWatch } from "./shift.ts";
import { DeferredRegression } from "./regression.ts";
import { classifyRegime, type RegimeInputs } from "./regime.ts";
import { LEVEL_NAMES, type Baseline, type Contribution, type Decision, type DimensionSpec, type Level, type Sample } from "./types.ts";
import { Welford } from "./welford.ts";

export interface EngineConfig {
  /** Time constant of the EWMA on D_M (and φ, propagation), seconds... */
  ewmaTauS: number;
  /** ...and at least this many sampling steps. */
  ewmaMinSamples: number;
  /** Covariance shrinkage toward its diagonal, 0..1. */
  shrinkage: number;
  /** Half-life of the baseline's memory while learning, seconds; 0 keeps everything. */
  forgettingHalfLifeS: number;
  /** Floors of θ1..θ4 at dmMean + sigma_k·dmStd of the out-of-sample D̄_M (document 004's kσ). */
  thresholdSigmas: [number, number, number, number];
  /**
   * Expected false-alarm episodes per day at Level ≥ 1..4 on data like the
   * calibration's; θ1..θ4 are placed to mean these rates (docs/engine.md §4).
   */
  falseAlarmsPerDay: [number, number, number, number];
  /** Hold before 1->0, 2->1, 3->2, 4->3, seconds (and minSamples samples). */
  holdS: [number, number, number, number];
  /** A danger with a time to failure below this is Level 4, seconds. */
  ttfCriticalS: number;
  /** A danger holds while the time to failure is below this, seconds. */
  dangerHorizonS: number;
  /** Level 1 on a significant rise of D_M lasting this long, seconds... */
  sustainS: number;
  /** ...and amounting to at least this many dmStd of D̄_M. */
  sustainRiseSigmas: number;
  /** ...and at least the baseline's normal range θ1 − dmMean (a rise as large as what separates the node's mean from vigilance). */
  sustainRiseRange: boolean;
  /** Level 5 when, at Level 4, D̄_M > θ4 and containment fails for this long, seconds. */
  quarantineAfterS: number;
  /** The propagation index (σ above baseline of a propagation dimension) above which the regime is viral propagation. */
  icpCritical: number;
  /** Window of the regression of each exhaustible dimension for the engine's own time to failure, seconds. */
  ttfWindowS: number;
  /**
   * A dimension counts for TTF only once it is this many σ off its baseline
   * toward capacity: within its normal range a slope is noise, and noise
   * extrapolated is a false "exhaustion in 20 s".
   */
  ttfMinSigmas: number;
  /** Window of the regression of D_M for its slope and curvature, seconds... */
  derivWindowS: number;
  /** ...and at least this many samples. */
  derivMinSamples: number;
  /** A slope (or curvature) is significant beyond this many standard errors. */
  slopeZ: number;
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
   * O(n³) factorisation dominates the step; 1 refactors every sample. 0
   * (the default) is max(8, n) for n dimensions, lengthened up to 64 as
   * the weight W grows, so that the samples learned since the factor in use
   * never weigh more than 1/256 of the baseline (REFACTOR_WEIGHT_SHARE):
   * the factorisation's n³/6 spread over n samples keeps a learning step
   * O(n²), like the distance itself, and a long-learned baseline, which a
   * few dozen samples barely move, is refactorised less often
   * (docs/engine.md §8). (A rank-one update of the factor does not apply:
   * the shrinkage toward the diagonal and the variance floors make one
   * sample's change to Σ' of rank n.)
   */
  refactorEvery: number;
  /** Smallest dmStd a calibration reports, so θ1 < θ2 < θ3 < θ4 even on a perfectly constant node. */
  dmStdFloor: number;
  /** D_M passes a running median of three samples before the EWMA (one wild sample is not an event). */
  dmMedianOf3: boolean;
  /** Seconds the threshold part of Level 1..4's condition must hold before the level is entered; [4] is added to quarantineAfterS for Level 5. */
  escalateAfterS: [number, number, number, number, number];
  /** Every dwell, hold and grace also spans at least this many samples. */
  minSamples: number;
  /** A hold is reset only when its level's condition is back for longer than this, seconds (and minSamples samples). */
  holdGraceS: number;
  /** Absolute floors of θ1..θ4: a deviation under one meaningful σ is never an anomaly. */
  thresholdFloors: number[];
  /** Learn in homeostasis (live, and replay without a baseline); false judges with the baseline as it is. */
  learn: boolean;
  /** A calibration shorter than this, seconds, or with fewer than minCalibrationSamplesPerDim samples per dimension, is not supported. */
  minCalibrationS: number;
  minCalibrationSamplesPerDim: number;
  /** Blocks of the blocked cross-validation that places θ out of sample (docs/engine.md §4). */
  calibrationFolds: number;
  /** θ from the median over held-out blocks of each block's tail quantile, mean and spread, instead of the pooled blocks (docs/engine.md §4). */
  thresholdsByBlock: boolean;
  /** With thresholdsByBlock, the quantile over blocks of each block's tail quantile (0.5, the median; mean and spread stay the median). */
  blockQuantile: number;
  /**
   * How a block is held out (docs/engine.md §4): "interleaved", judged by the
   * model of all other blocks; "forward", by the model of the blocks before
   * it; "half", the second half by the first half's model (both tried, not kept).
   */
  heldOutOrder: "interleaved" | "forward" | "half";
  /** Run length converting an episode rate into a tail probability: measured above the tail's threshold u ("tail"), above the first quantile ("threshold") or 1 ("one"); the last two tried, not kept. */
  episodeRunLength: "tail" | "threshold" | "one";
  /** Calibration raises each dimension's noise floor to its quantisation step q/√12 (docs/engine.md §7: tried, off: it lowered SMD's scores). */
  quantizationFloor: boolean;
  /** The second statistic: the largest smoothed single-dimension z against its own ζ1, at Level 1 (docs/engine.md §7). */
  dimSurprise: boolean;
  /** Share of Level 1's false-alarm rate offered to it (D_M gets the rest and what Z does not use): a Bonferroni split. */
  dimSurpriseRateShare: number;
  /** Share of Level 1's false-alarm rate offered to the raw D_M's single-sample path (θ1s, docs/engine.md §10); 0 is off. */
  spikeRateShare: number;
  /** The spike path judges the smaller of the last this-many (1 or 2) raw distances. */
  spikeSamples: number;
  /**
   * A new regime (docs/engine.md §9): Level 1–2 held this long without
   * danger, with D̄_M as high in its second half as in its first (a plateau,
   * not a rise), is a level shift; it is said once at Level 1 and judged
   * from then on around the new level, with the baseline's covariance and
   * θ, until the node is back within θ1 of its baseline. Seconds; 0 is off.
   */
  regimeAfterS: number;
  /** ...and at least this many samples. */
  regimeMinSamples: number;
  /** In a regime, each home dimension's z̄ is judged from a centre that follows its drift at Level 0, like the plateau's level (docs/engine.md §9). */
  regimeZFollows: boolean;
  /** A regime ends only when D̄_M is under θ1 and nearer the baseline than the plateau, each in its own spread (docs/engine.md §9). */
  regimeEndNearer: boolean;
}

export function defaultEngineConfig(): EngineConfig {
  return {
    ewmaTauS: 0.3,
    ewmaMinSamples: 3,
    shrinkage: 0.05,
    forgettingHalfLifeS: 0,
    thresholdSigmas: [2, 3, 4, 5],
    falseAlarmsPerDay: [1, 0.1, 1 / 365, 0.1 / 365],
    holdS: [10, 30, 20, 20],
    ttfCriticalS: 30,
    dangerHorizonS: 120,
    sustainS: 2,
    sustainRiseSigmas: 2,
    sustainRiseRange: true,
    quarantineAfterS: 60,
    icpCritical: 10,
    ttfWindowS: 1,
    ttfMinSigmas: 3,
    derivWindowS: 1,
    derivMinSamples: 8,
    slopeZ: 3,
    topK: 3,
    phiIdle: 1,
    phiSilence: 2,
    structuralIdleS: 3600,
    stdFloorRel: 1e-6,
    stdFloorAbs: 1e-6,
    dmStdFloor: 1e-3,
    refactorEvery: 0,
    dmMedianOf3: true,
    escalateAfterS: [0, 0.3, 0.3, 0.3, 0],
    minSamples: 3,
    holdGraceS: 2,
    thresholdFloors: [1, 1.5, 2, 2.5],
    learn: true,
    minCalibrationS: 120,
    minCalibrationSamplesPerDim: 20,
    calibrationFolds: 10,
    thresholdsByBlock: true,
    blockQuantile: 0.5,
    heldOutOrder: "interleaved",
    episodeRunLength: "tail",
    quantizationFloor: false,
    dimSurprise: true,
    dimSurpriseRateShare: 1 / 3,
    spikeRateShare: 1 / 3,
    spikeSamples: 1,
    regimeAfterS: 3600,
    regimeMinSamples: 30,
    regimeZFollows: true,
    regimeEndNearer: true,
  };
}

/**
 * The engine's settings an operator may change: the engine's own type, which
 * src/config.ts maps the `[engine]` section of hosa.toml to (the engine
 * never reads the configuration file). Error messages name the file's keys,
 * so an operator finds the line to fix.
 */
export interface EngineSettings {
  ewmaTauS: number;
  shrinkage: number;
  forgettingHalfLifeS: number;
  thresholdSigmas: readonly number[];
  falseAlarmsPerDay: readonly number[];
  holdS: readonly number[];
  ttfCriticalS: number;
  dangerHorizonS: number;
  quarantineAfterS: number;
  escalateAfterS: readonly number[];
  holdGraceS: number;
  regimeAfterS: number;
}

/** The settings the defaults of EngineConfig amount to. */
export function defaultEngineSettings(): EngineSettings {
  const d = defaultEngineConfig();
  return {
    ewmaTauS: d.ewmaTauS,
    shrinkage: d.shrinkage,
    forgettingHalfLifeS: d.forgettingHalfLifeS,
    thresholdSigmas: [...d.thresholdSigmas],
    falseAlarmsPerDay: [...d.falseAlarmsPerDay],
    holdS: [...d.holdS],
    ttfCriticalS: d.ttfCriticalS,
    dangerHorizonS: d.dangerHorizonS,
    quarantineAfterS: d.quarantineAfterS,
    escalateAfterS: [...d.escalateAfterS],
    holdGraceS: d.holdGraceS,
    regimeAfterS: d.regimeAfterS,
  };
}

/** The operator's settings over the defaults of the knobs they do not name, checked. */
export function engineConfigFrom(cfg: EngineSettings): EngineConfig {
  const fail = (what: string): never => {
    throw new HosaError(`cannot use [engine] configuration: ${what}`, EXIT.CONFIG);
  };
  const s = cfg.thresholdSigmas;
  if (s.length !== 4 || !s.every(Number.isFinite)) fail("threshold_sigmas must be 4 numbers");
  if (!(s[0] < s[1] && s[1] < s[2] && s[2] < s[3])) fail(`threshold_sigmas must rise strictly, found [${s.join(", ")}]`);
  const r = cfg.falseAlarmsPerDay;
  if (r.length !== 4 || !r.every((v) => Number.isFinite(v) && v > 0)) fail("false_alarms_per_day must be 4 positive numbers");
  if (!(r[0] > r[1] && r[1] > r[2] && r[2] > r[3])) fail(`false_alarms_per_day must fall strictly from Level 1 to 4, found [${r.join(", ")}]`);
  if (cfg.holdS.length !== 4 || !cfg.holdS.every((h) => Number.isFinite(h) && h >= 0)) fail("hold_s must be 4 non-negative numbers");
  if (!(cfg.shrinkage >= 0 && cfg.shrinkage <= 1)) fail(`shrinkage must be within 0..1, found ${cfg.shrinkage}`);
  if (!(cfg.ewmaTauS >= 0)) fail(`ewma_tau_s must be ≥ 0, found ${cfg.ewmaTauS}`);
  if (!(cfg.forgettingHalfLifeS >= 0)) fail(`forgetting_half_life_s must be ≥ 0, found ${cfg.forgettingHalfLifeS}`);
  if (!(cfg.ttfCriticalS >= 0)) fail(`ttf_critical_s must be ≥ 0, found ${cfg.ttfCriticalS}`);
  if (!(cfg.dangerHorizonS > cfg.ttfCriticalS)) fail(`danger_horizon_s must be more than ttf_critical_s (${cfg.ttfCriticalS}), found ${cfg.dangerHorizonS}`);
  if (!(cfg.quarantineAfterS >= 0)) fail(`quarantine_after_s must be ≥ 0, found ${cfg.quarantineAfterS}`);
  const dwell = cfg.escalateAfterS;
  if (dwell.length !== 5 || !dwell.every((v) => Number.isFinite(v) && v >= 0)) fail("escalate_after_s must be 5 non-negative numbers");
  if (!(cfg.holdGraceS >= 0)) fail(`hold_grace_s must be ≥ 0, found ${cfg.holdGraceS}`);
  if (!(cfg.regimeAfterS >= 0 && cfg.regimeAfterS < Infinity)) fail(`regime_after_s must be ≥ 0 (0: off), found ${cfg.regimeAfterS}`);
  return {
    ...defaultEngineConfig(),
    ewmaTauS: cfg.ewmaTauS,
    shrinkage: cfg.shrinkage,
    forgettingHalfLifeS: cfg.forgettingHalfLifeS,
    thresholdSigmas: [s[0], s[1], s[2], s[3]],
    falseAlarmsPerDay: [r[0], r[1], r[2], r[3]],
    holdS: [cfg.holdS[0], cfg.holdS[1], cfg.holdS[2], cfg.holdS[3]],
    ttfCriticalS: cfg.ttfCriticalS,
    dangerHorizonS: cfg.dangerHorizonS,
    quarantineAfterS: cfg.quarantineAfterS,
    escalateAfterS: [dwell[0], dwell[1], dwell[2], dwell[3], dwell[4]],
    holdGraceS: cfg.holdGraceS,
    regimeAfterS: cfg.regimeAfterS,
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

/**
 * A dwell, hold or grace: since when a condition has held, in seconds and in
 * samples. Running is a flag, not a NaN start: a field that is NaN at times
 * and a time at others makes the JIT's typed code bail out (and recompile
 * step()) whenever it turns NaN (bench/RESULTS-footprint.md).
 */
/**
 * Up to this many dimensions the forward substitution runs inside the pass
 * (one row a dimension, beside the medians and EWMAs); above, after it, four
 * rows at a time (Mahalanobis.forwardDelta): at 8 dimensions the first was
 * 0.91–0.96 of a step, at 32 the second 0.95 of the first
 * (bench/RESULTS-footprint.md, branch step2). The same bits either way.
 */
const FORWARD_IN_PASS_MAX = 8;

/**
 * With `refactorEvery` 0, the samples learned between two factorisations
 * weigh at most this share of the baseline's weight W, and number at least
 * max(8, n) and at most REFACTOR_MAX (when W allows): the distance is
 * judged against a factor that lags the learned μ and Σ by samples
 * weighing at most 1/256 of the baseline, less than the period of 8 let
 * a young baseline lag (8 of W = 1000–2000). On samples whose covariance
 * is not the baseline's, the raw distance stays within 0.7 % of one
 * refactorised at every sample, where a period of 8 gave 1.6 % at W = 1000
 * (engine.test.ts); every level and learning decision of bench/engine-same.ts
 * is the same. At 8 dimensions the factorisation every 8 samples was
 * about a tenth of a learning step (bench/RESULTS-footprint.md, branch eng8b).
 */
const REFACTOR_WEIGHT_SHARE = 1 / 256;
const REFACTOR_MAX = 64;

class Clock {
  on = false;
  startT = 0;
  startTick = 0;
  /** Start (or keep running) while `on`, stop otherwise. */
  track(on: boolean, t: number, tick: number): void {
    if (!on) this.on = false;
    else if (!this.on) {
      this.on = true;
      this.startT = t;
      this.startTick = tick;
    }
  }
  running(): boolean {
    return this.on;
  }
  stop(): void {
    this.on = false;
  }
  restart(t: number, tick: number): void {
    this.on = true;
    this.startT = t;
    this.startTick = tick;
  }
  /** Held at least `s` seconds and `k` samples (the start sample counts as the first). */
  lasted(t: number, tick: number, s: number, k: number): boolean {
    return this.on && t - this.startT >= s && tick - this.startTick + 1 >= k;
  }
  heldS(t: number): number {
    return this.on ? t - this.startT : 0;
  }
}

class Engine implements EngineState {
  readonly dims: readonly DimensionSpec[];
  readonly config: EngineConfig;
  readonly n: number;
  readonly names: string[];
  readonly thresholds: { theta1: number; theta2: number; theta3: number; theta4: number };
  readonly dmStd: number;
  readonly dmMean: number;
  readonly welford: Welford;
  readonly maha: Mahalanobis;
  readonly covariance: Float64Array;
  readonly shares: Float64Array;
  readonly order: Int32Array;
  readonly signs: Float64Array;
  readonly signNorm: number;
  /** 1 for a propagation dimension (DimensionSpec.propagation). */
  readonly propagationFlags: Uint8Array;
  readonly capacityDims: Int32Array;
  /** The capacity of each of capacityDims. */
  readonly capacity: Float64Array;
  readonly capacitySide: Float64Array;
  /**
   * The EWMAs of D_M, φ and the propagation index (and, in dimZ, of every
   * z_j): the same τ, the same times, so one α a step from one memo
   * (src/engine/ewma.ts); each value starts where the baseline says the
   * node lives, and a sample without time (the first, a repeated stamp)
   * leaves them as they are, as Ewma.update would.
   */
  readonly alphas: AlphaMemo;
  dmBar: number;
  phiBar = 0;
  icpBar = 0;
  /** The single-dimension statistic Z and its ζ1 (Infinity when the baseline has none: off). */
  readonly dimZ: DimSurprise;
  readonly zeta1: number;
  /** θ1s on the raw D_M (Infinity when the baseline has none, or the path is off). */
  readonly spike1: number;
  /** The raw D_M of the current step (for the reason). */
  stepRaw = 0;
  /** The previous timed sample's raw D_M. */
  prevRaw = 0;
  readonly dmReg: DeferredRegression;
  readonly capRegs: DeferredRegression[];
  /** The forward substitution in the pass over the dimensions (n ≤ FORWARD_IN_PASS_MAX). */
  readonly forwardInPass: boolean;
  readonly regimeInputs: RegimeInputs;
  readonly decision: Decision;
  /**
   * The decision's dominant dimensions, filled only when a caller reads
   * `decision.dominant` (an accessor): Σ'⁻¹δ's back substitution, the shares
   * and their ranking are a third of a step and most steps are never asked
   * (bench/RESULTS-footprint.md). Stale after a step until read; filled from
   * the step's δ and factor, which stay until the next step (a
   * refactorisation keeps the factor before it beside the new one), so the
   * same values as computing them at every step.
   */
  readonly dominant: Contribution[];
  dominantStale = false;
  /** This step refactorised after its distance: its dominant dimensions are of the factor before (Mahalanobis.solve(true)). */
  dominantPrevFactor = false;

  lastT = NaN;
  /** Samples that carried time (the first, then every Δt > 0): the sample half of every dwell and hold. */
  tick = 0;
  level: Level = 0;
  /** The current de-escalation hold, and the current excursion back to the level's condition during it (grace). */
  readonly hold = new Clock();
  readonly back = new Clock();
  holdReason = "";
  dmMedian: Median3;
  icpMedian = new Median3();
  /** Per level 1..5 (index 0 unused): since when its threshold part has held. */
  readonly since = [new Clock(), new Clock(), new Clock(), new Clock(), new Clock(), new Clock()];
  /** Per level 1..5: its whole escalation condition holds at this sample. */
  readonly cond = [false, false, false, false, false, false];
  /** The current significant rise of D_M, and D̄_M at its start (L1 sustained-rise rule). */
  readonly rise = new Clock();
  riseStartDm = 0;
  /** How much a sustained rise must amount to (EngineConfig.sustainRiseSigmas·dmStd, or the normal range θ1 − dmMean when sustainRiseRange). */
  readonly riseNeeded: number;
  /** Level at which the D̄_M > θ3 "no danger" note was last given, so it is said once per crossing. */
  surpriseNoted = false;
  /** Idle since idleStartT (a flag beside the time, not a NaN: see Clock). */
  idle = false;
  idleStartT = 0;
  icpDim = 0;
  learnedSinceFactor = 0;
  /** Learned samples until the next factorisation (EngineConfig.refactorEvery, or with 0 from the weight: refactorInterval). */
  refactorEvery: number;
  /** EngineConfig.refactorEvery 0: the interval follows the weight (see REFACTOR_WEIGHT_SHARE). */
  readonly refactorByWeight: boolean;
  /** The engine's own danger when samples carry none: dimension index of the smallest TTF. */
  ownTtfDim = -1;
  /**
   * A new regime (docs/engine.md §9): while `regimeOn`, the levels judge
   * how far D̄_M is from the plateau's level `regimeLevel`, in units of its
   * spread `regimeSpread`, mapped onto the calibration's scale of D̄_M so θ1..θ4
   * keep their meaning; the baseline's own D̄_M and Z still tell when the
   * node is back.
   */
  regimeOn = false;
  regimeSinceT = NaN;
  regimeLevel = 0;
  regimeSpread = 1;
  /** The regime was accepted at this step. */
  regimeAccepted = false;
  /** 1 for the dimensions the shift left at home (|z̄| ≤ ζ1 all through the alarm that became the regime): Z goes on judging them against the baseline. */
  readonly regimeHome: Uint8Array;
  /**
   * In a regime, where each home dimension's z̄ is judged from: 0 (its
   * baseline) when the regime is accepted, then following a drift of z̄ at
   * Level 0 with the plateau's time constant, as the plateau's own level
   * does (drift is not news; a change faster than half the window is).
   */
  readonly regimeZCenter: Float64Array;
  /** Largest |z̄| of each dimension since the alarm without danger began (the shift watch's span). */
  readonly shiftMaxZ: Float64Array;
  shiftMaxZClear = true;
  /** The dimension of the largest home z̄ at the last step in a regime. */
  regimeZDim = 0;
  /** In a regime, this step's D̄_M, the EWMA's input and Z as judged around the plateau (judgeInRegime). */
  regimeDm = 0;
  regimeDmIn = 0;
  regimeZ = 0;
  /** The reason in words the level machine or the shift watch gave at this step (read at once by step). */
  stepReason = "";
  readonly shiftWatch = new ShiftWatch();

  constructor(baseline: Baseline, cfg: EngineConfig) {
    const n = baseline.dims.length;
    this.dims = baseline.dims;
    this.config = cfg;
    this.n = n;
    this.refactorByWeight = !(cfg.refactorEvery > 0);
    this.refactorEvery = this.refactorByWeight ? refactorInterval(n, baseline.count) : cfg.refactorEvery;
    this.names = baseline.dims.map((d) => d.name);
    this.thresholds = { ...baseline.thresholds };
    this.dmStd = baseline.dmStd;
    this.dmMean = baseline.dmMean;
    this.riseNeeded = Math.max(cfg.sustainRiseSigmas * baseline.dmStd, cfg.sustainRiseRange ? baseline.thresholds.theta1 - baseline.dmMean : 0);
    // M2's products deferred to the refactorisation that reads them (Welford.defer): at most 64 samples held,
    // or with the period from the weight one more than its longest, so that learn()'s flush is the one taken (a
    // flush inside defer(), first reached at the 64th sample of a period, bailed out of defer's compiled code each time).
    this.welford = Welford.fromCovariance(baseline.mean, baseline.covariance, baseline.count, this.refactorByWeight ? REFACTOR_MAX + 1 : Math.min(this.refactorEvery, 64));
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
    this.propagationFlags = new Uint8Array(n);
    for (const j of prop) this.propagationFlags[j] = 1;
    this.capacityDims = Int32Array.from(cap);
    this.capacity = Float64Array.from(cap, (j) => baseline.dims[j].capacity as number);
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
    // One α memo for the four smoothers that step together (same τ, same Δt): one exponential per new Δt, not four.
    const alphas = new AlphaMemo(cfg.ewmaTauS, cfg.ewmaMinSamples);
    this.alphas = alphas;
    this.dimZ = new DimSurprise(n, cfg.ewmaTauS, cfg.ewmaMinSamples, cfg.dmMedianOf3, alphas);
    this.regimeHome = new Uint8Array(n);
    this.regimeZCenter = new Float64Array(n);
    this.shiftMaxZ = new Float64Array(n);
    const z1 = baseline.dimZeta1;
    this.zeta1 = typeof z1 === "number" && Number.isFinite(z1) ? z1 : Infinity;
    const s1 = baseline.dmSpike1;
    this.prevRaw = baseline.dmMean;
    this.spike1 = cfg.spikeRateShare > 0 && typeof s1 === "number" && Number.isFinite(s1) ? s1 : Infinity;
    this.dmBar = baseline.dmMean;
    this.dmMedian = new Median3(baseline.dmMean);
    this.dmReg = new DeferredRegression(cfg.derivWindowS, cfg.derivMinSamples, cfg.slopeZ, 128, true, true);
    this.forwardInPass = n <= FORWARD_IN_PASS_MAX;
    this.capRegs = cap.map(() => new DeferredRegression(cfg.ttfWindowS, cfg.derivMinSamples, cfg.slopeZ, 128, false));
    this.regimeInputs = { dm: 0, derivative: 0, acceleration: 0, phi: 0, ttfCritical: false, propagating: false, idleForS: 0 };
    const dominant: Contribution[] = [];
    for (let i = 0; i < k; i++) dominant.push({ dim: this.names[i], share: 0 });
    this.dominant = dominant;
    this.decision = {
      t: NaN,
      level: 0,
      levelName: LEVEL_NAMES[0],
      previousLevel: 0,
      dmRaw: 0,
      dm: 0,
      dmDerivative: 0,
      dmAcceleration: 0,
      dmRising: false,
      dmAccelerating: false,
      phi: 0,
      regime: 0,
      dominant,
      thresholds: this.thresholds,
      ttfS: Infinity,
      ttfDim: null,
      dangerTtfS: Infinity,
      dangerCgroup: null,
      dangerResource: "",
      dangerEvidence: "",
      containmentFailing: false,
      dangerPending: false,
      reason: "",
      learning: false,
    };
    // An accessor in the place of the data property (same key order).
    Object.defineProperty(this.decision, "dominant", {
      get: (): Contribution[] => (this.dominantStale ? dominantNow(this) : this.dominant),
      enumerable: true,
      configurable: true,
    });
  }
}

/** Learned samples between two factorisations at weight W (refactorEvery 0): max(8, n), longer up to REFACTOR_MAX while they weigh at most REFACTOR_WEIGHT_SHARE of W. */
function refactorInterval(n: number, weight: number): number {
  const least = n > 8 ? n : 8;
  const byWeight = Math.floor(weight * REFACTOR_WEIGHT_SHARE);
  const k = byWeight < REFACTOR_MAX ? byWeight : REFACTOR_MAX;
  return k > least ? k : least;
}

/** The dominant dimensions of the last step, computed now (see Engine.dominant). */
function dominantNow(e: Engine): Contribution[] {
  e.dominantStale = false;
  const maha = e.maha;
  maha.solve(e.dominantPrevFactor);
  computeShares(maha.delta, maha.solved, e.shares);
  selectDominant(e.shares, e.names, e.order, e.dominant);
  return e.dominant;
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

const CALM_WORDS = ["", "D_M < θ1", "D_M < θ1", "no danger", "no critical danger"];

// step() is the hot path: every sample of every node, and 10⁶ samples in a
// replay. It holds the kernels and the conditions; the level machine, the
// regime's watch and every reason in words are functions of their own,
// called only when something happens (a condition holds, or the engine is
// off Level 0). A small step is compiled by JSC's optimising tier in a
// fraction of the time, and a level reached for the first time runs code
// the compiled step never had to speculate on, so it no longer sends step
// back to a slower tier (bench/RESULTS-footprint.md, fifth pass). The
// decisions are the same to the byte (bench/engine-same.ts).
export function step(state: EngineState, sample: Sample): Decision {
  const e = state as Engine;
  const cfg = e.config;
  const n = e.n;
  const x = sample.x;
  const t = sample.t;
  if (x.length !== n) badSampleLength(t, x.length, n);
  const lastT = e.lastT;
  if (!Number.isFinite(t) || t < lastT) badSampleTime(t, lastT);
  const first = lastT !== lastT;
  const dt = first ? 0 : t - lastT;
  e.lastT = t;
  // A repeated timestamp carries no time: it is judged, but it neither
  // advances the sample count of dwells and holds nor enters a window.
  const timed = first || dt > 0;
  if (timed && !first) e.tick++;
  const tick = e.tick;

  // One pass over the dimensions: δ, the single-dimension statistic Z (when
  // the baseline has its ζ1), φ's sum, the propagation index, whether x
  // is finite, and, up to FORWARD_IN_PASS_MAX dimensions, D_M²: the forward
  // substitution L u = δ, row j as soon as δ_j is known (src/engine/surprise.ts;
  // the same bits as forwardDelta, which does it for more dimensions).
  const maha = e.maha;
  const dz = e.dimZ;
  const judgeZ = e.zeta1 < Infinity;
  let dmRaw: number;
  if (e.forwardInPass) {
    dz.pass(t, x, maha.mean, maha.delta, maha.invStd, e.signs, e.propagationFlags, judgeZ, maha.chol, maha.invDiag, maha.work);
    dmRaw = Math.sqrt(dz.d2);
  } else {
    dz.pass(t, x, maha.mean, maha.delta, maha.invStd, e.signs, e.propagationFlags, judgeZ);
    dmRaw = Math.sqrt(maha.forwardDelta());
  }
  // α for the step's Δt, shared by the three EWMAs (see Engine.alphas).
  const alpha = dt > 0 ? e.alphas.alpha(dt) : 0;

  // What does not wait for D_M comes first: the forward substitution (in
  // the pass) is a chain of dependent rows, and the processor runs these beside it.
  // φ = Σ s_j·z_j / |s| (contributions.ts loadDirection), its sum from the pass.
  if (dt > 0) e.phiBar += alpha * ((e.signNorm === 0 ? 0 : dz.phiSum / e.signNorm) - e.phiBar);
  const phi = e.phiBar;

  // Propagation index: the largest upward deviation, in σ, of a propagation
  // dimension (from the pass). It names the regime; it never quarantines on its own.
  e.icpDim = dz.icpDim;
  let icpIn = dz.icp;
  if (cfg.dmMedianOf3 && dt > 0) icpIn = e.icpMedian.next(icpIn);
  if (dt > 0) e.icpBar += alpha * (icpIn - e.icpBar);
  const propagating = e.icpBar > cfg.icpCritical;

  const ttf = e.capacityDims.length > 0 ? ownTtf(e, x, t, timed) : Infinity;
  const ttfIdx = e.ownTtfDim;

  let dmIn = dmRaw;
  if (cfg.dmMedianOf3 && dt > 0) dmIn = e.dmMedian.next(dmRaw);
  if (dt > 0) e.dmBar += alpha * (dmIn - e.dmBar);
  let dm = e.dmBar;
  const th = e.thresholds;
  let z = judgeZ ? dz.value : 0;

  // A new regime ends when the node is back within θ1 (and ζ1) of its
  // baseline; in one, the levels judge the distance from its plateau.
  let regimeNote = "";
  if (e.regimeOn) regimeNote = regimeEnd(e, dm, z);
  const dmBaseline = dm;
  if (e.regimeOn) {
    judgeInRegime(e, dm, dmIn);
    dm = e.regimeDm;
    dmIn = e.regimeDmIn;
    z = e.regimeZ;
  }
  if (timed) e.dmReg.push(t, dmIn);
  const reg = e.dmReg;
  const d1 = reg.slope;
  // Significant: beyond the t quantile of z at the window's degrees of freedom, and a rise over the window at
  // least as large as the scatter around the fit (a sign alone is noise).
  const rising = d1 > reg.slopeT * reg.slopeSe && d1 * reg.spanS >= reg.residualStd;
  const falling = -d1 > reg.slopeT * reg.slopeSe && -d1 * reg.spanS >= reg.residualStd;
  // The curvature only while something happens (above θ1, rising, or off Level 0); 0 otherwise.
  if (timed && (rising || dm > th.theta1 || e.level > 0)) reg.fitCurvature();
  else if (timed) reg.accel = 0;
  const d2 = reg.accel;
  const accelerating = rising && d2 > reg.accelT * reg.accelSe;
  const d = e.decision;

  // A short event of large magnitude (docs/engine.md §10): one raw sample
  // of D_M beyond θ1s, which the median and the EWMA would hide. Off in a
  // regime (the plateau's spread is known for D̄_M only).
  // Two samples in a row (spikeSamples 2): the smaller of this raw D_M and the previous one.
  let spikeIn = dmRaw;
  if (cfg.spikeSamples >= 2 && e.prevRaw < spikeIn) spikeIn = e.prevRaw;
  if (timed) e.prevRaw = dmRaw;
  const spikeRaw = e.regimeOn ? e.dmMean + (spikeIn - e.regimeLevel) * (e.dmStd / e.regimeSpread) : spikeIn;
  const spikeOver = timed && spikeRaw > e.spike1;
  e.stepRaw = spikeRaw;
  const zOver = z > e.zeta1 || spikeOver;
  // The dominant dimensions only when a caller reads them (see Engine.dominant).
  e.dominantStale = true;
  e.dominantPrevFactor = false;

  // Danger: the tracker's when the sample carries it, else the engine's own.
  const prev = e.level;
  const dg = sample.danger;
  let dangerTtf: number;
  let failing: boolean;
  if (dg) {
    dangerTtf = dg.ttfS === dg.ttfS ? dg.ttfS : Infinity;
    failing = dg.containmentFailing;
  } else {
    dangerTtf = ttf;
    // Without a tracker, containment fails when the resource still heads to
    // exhaustion within the horizon while the engine contains (Level ≥ 3).
    failing = prev >= 3 && ttf < cfg.dangerHorizonS;
  }
  // A danger seen but not yet proven (src/engine/danger.ts, "steady"): it
  // raises vigilance and starts Level 3's dwell; only a proven one slows anyone.
  const pending = dg !== undefined && dg.pending === true && dangerTtf < cfg.dangerHorizonS;
  const danger = dangerTtf < cfg.dangerHorizonS && !pending;
  const seen = danger || pending;
  const critical = danger && (dangerTtf < cfg.ttfCriticalS || dm > th.theta4);
  const quarantineCond = prev === 4 && danger && dm > th.theta4 && failing;

  // Sustained rise (L1): D_M significantly rising for sustainS (and kMin samples), by riseNeeded (at least the normal range θ1 − dmMean).
  const rise = e.rise;
  if (rising) {
    if (!rise.on) e.riseStartDm = dm;
    rise.track(true, t, tick);
  } else rise.on = false;
  const sustainedRise = rise.lasted(t, tick, cfg.sustainS, cfg.minSamples) && dm - e.riseStartDm >= e.riseNeeded;

  // Level conditions now, and clocks on their threshold parts.
  const c1 = dm > th.theta1 || zOver || sustainedRise || seen;
  const c2 = dm > th.theta2 && rising;
  const since = e.since;
  since[1].track(c1, t, tick);
  since[2].track(dm > th.theta2, t, tick);
  since[3].track(seen, t, tick);
  since[4].track(critical, t, tick);
  since[5].track(quarantineCond, t, tick);
  const cond = e.cond;
  cond[1] = c1;
  cond[2] = c2;
  cond[3] = danger;
  cond[4] = critical;
  cond[5] = quarantineCond;

  // The level and its reason: a function of its own, called at every step
  // so that its first call is not news to the compiled step (see above).
  const level = decideLevel(e, prev, t, tick, dt, timed, dm, dmBaseline, d1, z, dangerTtf, dg, ttf, danger, critical, seen, zOver, sustainedRise, c1 || c2 || quarantineCond, regimeNote);
  const reason = e.stepReason;
  e.regimeAccepted = false;
  e.level = level;

  // Idleness duration for the structural-idleness regime. Both fields are
  // read and written at every step: a field first touched at the first
  // idleness is news to the compiled step, which then bails out and is
  // compiled again (bench/RESULTS-footprint.md).
  const wasIdle = e.idle;
  const idleStartT = e.idleStartT;
  const idleNow = phi <= -cfg.phiIdle;
  e.idle = idleNow;
  e.idleStartT = idleNow && !wasIdle ? t : idleStartT;
  const idleSoFar = t - idleStartT;
  const idleForS = idleNow && wasIdle ? idleSoFar : 0;
  const ri = e.regimeInputs;
  ri.dm = dm;
  ri.derivative = rising || falling ? d1 : 0;
  ri.acceleration = Math.abs(d2) > reg.accelT * reg.accelSe ? d2 : 0;
  ri.phi = phi;
  ri.ttfCritical = critical;
  ri.propagating = propagating;
  ri.idleForS = idleForS;
  const regime = classifyRegime(ri, th, cfg);

  // Learn only in homeostasis, only from a complete sample that carried
  // time, never near a danger and never a sample alone three times θ4 out:
  // an anomaly must never teach the baseline that it is normal.
  const learning = cfg.learn && !e.regimeOn && level === 0 && dm < th.theta1 && !zOver && dt > 0 && !seen && dmRaw <= 3 * th.theta4 && dz.finite;
  if (learning) learn(e, x, dt);

  d.t = t;
  d.level = level;
  d.levelName = LEVEL_NAMES[level];
  d.previousLevel = prev;
  d.dmRaw = dmRaw;
  d.dm = dm;
  d.dmDerivative = d1;
  d.dmAcceleration = d2;
  d.dmRising = rising;
  d.dmAccelerating = accelerating;
  d.phi = phi;
  d.regime = regime;
  d.ttfS = ttf;
  d.ttfDim = ttfIdx >= 0 ? e.names[ttfIdx] : null;
  d.dangerTtfS = dangerTtf;
  d.dangerPending = pending;
  d.containmentFailing = danger && failing;
  if (dg) {
    d.dangerCgroup = dg.cgroup;
    d.dangerResource = dg.resource;
    d.dangerEvidence = dg.evidence;
  } else if (danger) ownDanger(e, d, ttfIdx, ttf);
  else {
    d.dangerCgroup = null;
    d.dangerResource = "";
    d.dangerEvidence = "";
  }
  d.reason = reason;
  d.learning = learning;
  if (e.regimeOn) {
    d.regimeSinceT = e.regimeSinceT;
    d.dmBaseline = dmBaseline;
  } else if (d.regimeSinceT !== undefined) {
    d.regimeSinceT = NaN;
    d.dmBaseline = NaN;
  }
  return d;
}

/**
 * The engine's own time to failure: each exhaustible dimension's level and
 * slope from a regression over ttfWindowS, extrapolated to its capacity
 * when the slope toward it is significant and the dimension is already off
 * its baseline toward it. The smallest, its dimension in e.ownTtfDim (−1
 * when none heads there).
 */
function ownTtf(e: Engine, x: Float64Array, t: number, timed: boolean): number {
  const cfg = e.config;
  const maha = e.maha;
  let ttf = Infinity;
  let ttfIdx = -1;
  const cap = e.capacityDims;
  for (let i = 0; i < cap.length; i++) {
    const j = cap[i];
    const r = e.capRegs[i];
    const xj = x[j];
    if (timed && Number.isFinite(xj)) r.push(t, xj, false);
    if (r.count < 3) continue;
    const side = e.capacitySide[i];
    // The raw sample first (cheap), then the fitted level: both off baseline toward capacity.
    if (side * maha.delta[j] * maha.invStd[j] < cfg.ttfMinSigmas) continue;
    r.refit();
    const lev = r.level;
    if (side * (lev - maha.mean[j]) * maha.invStd[j] < cfg.ttfMinSigmas) continue;
    const gap = e.capacity[i] - lev;
    let ttfJ = Infinity;
    if (gap * side <= 0) ttfJ = 0;
    else if (r.slope * side > r.slopeT * r.slopeSe) ttfJ = gap / r.slope;
    if (ttfJ < ttf) {
      ttf = ttfJ;
      ttfIdx = j;
    }
  }
  e.ownTtfDim = ttfIdx;
  return ttf;
}

/**
 * The level after this sample (the level machine when off homeostasis or
 * when a condition holds, then the notes of surprise beyond θ3 and of a new
 * regime, and the plateau's drift), its reason in e.stepReason ("" when
 * there is nothing to say). `otherCond`: Level 1, 2 or 5's condition holds.
 */
function decideLevel(
  e: Engine,
  prev: Level,
  t: number,
  tick: number,
  dt: number,
  timed: boolean,
  dm: number,
  dmBaseline: number,
  d1: number,
  z: number,
  dangerTtf: number,
  dg: Sample["danger"],
  ttf: number,
  danger: boolean,
  critical: boolean,
  seen: boolean,
  zOver: boolean,
  sustainedRise: boolean,
  otherCond: boolean,
  regimeNote: string,
): Level {
  const cfg = e.config;
  const th = e.thresholds;
  let level: Level = prev;
  let reason = "";
  // In homeostasis no condition holds: nothing to admit, nothing to hold (the common step).
  if (prev !== 5 && (prev > 0 || otherCond || seen || critical)) {
    level = moveLevel(e, prev, t, tick, dm, d1, z, dangerTtf, dg, ttf, danger, critical, seen, zOver, sustainedRise);
    reason = e.stepReason;
  }
  // Surprise beyond θ3 at Level 1–2 without danger: said once per crossing.
  if (dm > th.theta3 && !danger && level >= 1 && level <= 2) {
    if (!e.surpriseNoted && reason === "") reason = surpriseKeptWords(level, dm, th);
    e.surpriseNoted = true;
  } else if (dm < th.theta3) e.surpriseNoted = false;
  // A level shift without danger (docs/engine.md §9): Level 1–2 for
  // regimeAfterS (and regimeMinSamples samples), no danger, D̄_M flat across
  // the window. Said once at Level 1; then judged around the new level.
  if (cfg.regimeAfterS > 0 && timed) {
    if (level >= 1 && level <= 2 && !seen) {
      if (watchShift(e, prev, t, tick, dmBaseline)) {
        reason = e.stepReason;
        level = 1;
      }
    } else {
      e.shiftWatch.reset();
      if (!e.shiftMaxZClear) {
        e.shiftMaxZ.fill(0);
        e.shiftMaxZClear = true;
      }
    }
  }
  if (regimeNote !== "") reason = withRegimeNote(reason, level, regimeNote);
  // In a regime and calm, the plateau's level follows D̄_M slowly (see followPlateau).
  else if (e.regimeOn && level === 0 && dt > 0 && !e.regimeAccepted) followPlateau(e, dt, dmBaseline);
  e.stepReason = reason;
  return level;
}

function badSampleLength(t: number, got: number, n: number): never {
  throw new HosaError(`engine: sample at t=${t} has ${got} values, the baseline has ${n} dimensions`, EXIT.INPUT);
}

function badSampleTime(t: number, lastT: number): never {
  throw new HosaError(`engine: sample time goes backwards or is not a number: t=${t} after t=${lastT}`, EXIT.INPUT);
}

/** Learn a sample of homeostasis: the baseline's mean and covariance, and now and then their factor. */
function learn(e: Engine, x: Float64Array, dt: number): void {
  const cfg = e.config;
  // Forgetting by the real time since the previous sample, so the half-life
  // means the same at 10 ms and 100 ms ticks; time spent in an anomaly (not
  // learned) does not erode the baseline either.
  const decay = cfg.forgettingHalfLifeS > 0 ? exp((-LN2 * dt) / cfg.forgettingHalfLifeS) : 1;
  e.welford.defer(x, decay);
  if (++e.learnedSinceFactor >= e.refactorEvery) {
    e.learnedSinceFactor = 0;
    // The dominant dimensions of this sample are the old factor's, which factor() keeps beside the new one.
    e.dominantPrevFactor = true;
    // From M2 itself, scaled by 1/(W − 1) as covarianceInto would (the same products), without the n×n copy.
    const w = e.welford;
    w.flush();
    const denom = w.weight - 1;
    if (denom > 0) e.maha.factor(w.mean, w.m2, 1 / denom, true);
    else e.maha.factor(w.mean, w.covarianceInto(e.covariance));
    if (e.refactorByWeight) e.refactorEvery = refactorInterval(e.n, w.weight);
  }
}

/**
 * In a regime: ends it when the node is back within θ1 (and ζ1) of its
 * baseline, and nearer home than the plateau, each in its own spread
 * (regimeEndNearer: a brush of θ1 from a plateau above it is not a return).
 * The note to say when it ended, "" otherwise.
 */
function regimeEnd(e: Engine, dm: number, z: number): string {
  const th = e.thresholds;
  if (dm < th.theta1 && !(z > e.zeta1) && (!e.config.regimeEndNearer || (dm - e.dmMean) / e.dmStd <= Math.abs(dm - e.regimeLevel) / e.regimeSpread)) {
    e.regimeOn = false;
    e.dmReg.reset();
    e.rise.stop();
    return `back within θ1 of the baseline (D_M ${num(dm)} < θ1 ${num(th.theta1)}): the regime since t=${e.regimeSinceT} ended`;
  }
  return "";
}

/**
 * In a new regime the levels judge the distance from the plateau, in its
 * own spreads, on the calibration's scale: dmMean + |D̄_M − level|·dmStd/spread,
 * so θk means as many spreads off the plateau as it means σ off the
 * baseline. Z judges only the dimensions the shift left at home, still
 * against the baseline: the shifted ones are the regime. Into regimeDm,
 * regimeDmIn and regimeZ.
 */
function judgeInRegime(e: Engine, dm: number, dmIn: number): void {
  const n = e.n;
  const scale = e.dmStd / e.regimeSpread;
  e.regimeDm = e.dmMean + Math.abs(dm - e.regimeLevel) * scale;
  e.regimeDmIn = e.dmMean + Math.abs(dmIn - e.regimeLevel) * scale;
  let z = 0;
  const sm = e.dimZ.smoothed;
  const home = e.regimeHome;
  const zc = e.regimeZCenter;
  for (let j = 0; j < n; j++) {
    if (home[j] === 0) continue;
    const dz = sm[j] - zc[j];
    const v = dz < 0 ? -dz : dz;
    if (v > z) {
      z = v;
      e.regimeZDim = j;
    }
  }
  e.regimeZ = z;
}

/**
 * The level machine, off homeostasis or when a condition holds: escalation
 * to the highest level admitted, else de-escalation one level at a time
 * after its hold, with the hold's grace (docs/levels.md §3). The new level;
 * its reason in e.stepReason ("" when there is nothing to say).
 */
function moveLevel(
  e: Engine,
  prev: Level,
  t: number,
  tick: number,
  dm: number,
  d1: number,
  z: number,
  dangerTtf: number,
  dg: Sample["danger"],
  ttf: number,
  danger: boolean,
  critical: boolean,
  seen: boolean,
  zOver: boolean,
  sustainedRise: boolean,
): Level {
  const cfg = e.config;
  const th = e.thresholds;
  const kMin = cfg.minSamples;
  let level: Level = prev;
  let reason = "";
  let target: Level = prev;
  for (let k = 5; k > prev; k--) {
    if (admitted(e, k, t, tick)) {
      target = k as Level;
      break;
    }
  }
  if (target > prev) {
    level = target;
    reason = `Level ${prev} → ${target}: ${escalationReason(e, target, dm, d1, dangerTtf, dg, ttf)}${dwellReason(e, target, t)}`;
    if (target <= 2 && dm > th.theta3 && !danger) {
      reason += `; D_M beyond θ3 ${num(th.theta3)} but no resource heads to exhaustion: surprise alone stays at Level 2`;
      e.surpriseNoted = true;
    }
    e.hold.stop();
    e.back.stop();
    e.holdReason = "";
  } else if (prev > 0) {
    const calm =
      prev === 4 ? !critical : prev === 3 ? !danger : prev === 2 ? dm < th.theta1 && !zOver && !seen : dm < th.theta1 && !zOver && !sustainedRise && !seen;
    const holdS = cfg.holdS[prev - 1];
    if (calm) {
      e.back.stop();
      if (!e.hold.running()) {
        e.hold.restart(t, tick);
        e.holdReason = `Level ${prev} → ${prev - 1} waits: ${CALM_WORDS[prev]} since t=${t}, hold ${num(holdS)} s`;
      }
      if (e.hold.lasted(t, tick, holdS, kMin)) {
        level = (prev - 1) as Level;
        reason = `Level ${prev} → ${level}: ${CALM_WORDS[prev]} for ${num(e.hold.heldS(t))} s (hold ${num(holdS)} s)`;
        e.hold.stop();
        e.holdReason = "";
        // A fresh hold for the next level down, starting now if its condition already holds.
        if (level > 0) {
          const nextCalm = level === 3 ? !danger : level === 2 ? dm < th.theta1 && !zOver && !seen : dm < th.theta1 && !zOver && !sustainedRise && !seen;
          if (nextCalm) {
            e.hold.restart(t, tick);
            e.holdReason = `Level ${level} → ${level - 1} waits: ${CALM_WORDS[level]} since t=${t}, hold ${num(cfg.holdS[level - 1])} s`;
          }
        }
      } else {
        reason = e.holdReason;
      }
    } else if (e.hold.running()) {
      // Hold grace: the condition must be back for longer than the grace
      // (seconds and samples) to reset the hold; a brush leaves it running.
      e.back.track(true, t, tick);
      if (e.back.lasted(t, tick, cfg.holdGraceS, kMin)) {
        reason = `Level ${prev} hold reset: ${calmBrokenWords(e, prev, dm, th.theta1, sustainedRise, dangerTtf, z)} for ${num(e.back.heldS(t))} s (grace ${num(cfg.holdGraceS)} s) after ${num(e.hold.heldS(t))} s of hold`;
        e.hold.stop();
        e.back.stop();
        e.holdReason = "";
      } else {
        reason = e.holdReason;
      }
    }
  }
  e.stepReason = reason;
  return level;
}

function surpriseKeptWords(level: Level, dm: number, th: Engine["thresholds"]): string {
  return `Level ${level} kept: D_M ${num(dm)} > θ3 ${num(th.theta3)}${dm > th.theta4 ? ` (> θ4 ${num(th.theta4)})` : ""} but no resource heads to exhaustion; surprise alone stays at Level 2`;
}

function withRegimeNote(reason: string, level: Level, note: string): string {
  return reason === "" ? `Level ${level} kept: ${note}` : `${reason}; ${note}`;
}

/**
 * The shift watch at Level 1–2 without danger (docs/engine.md §9): true
 * when the window is complete and flat; the regime is then accepted, the
 * clocks start over, and its reason is in e.stepReason.
 */
function watchShift(e: Engine, prev: Level, t: number, tick: number, dmBaseline: number): boolean {
  const cfg = e.config;
  const th = e.thresholds;
  const n = e.n;
  const sw = e.shiftWatch;
  const sm = e.dimZ.smoothed;
  const mz = e.shiftMaxZ;
  for (let j = 0; j < n; j++) {
    const v = sm[j] < 0 ? -sm[j] : sm[j];
    if (v > mz[j]) mz[j] = v;
  }
  e.shiftMaxZClear = false;
  if (!sw.push(t, tick, dmBaseline, cfg.regimeAfterS / 2, Math.ceil(cfg.regimeMinSamples / 2), e.dmStd, th.theta1 - e.dmMean)) return false;
  e.regimeLevel = sw.level;
  for (let j = 0; j < n; j++) e.regimeHome[j] = mz[j] <= e.zeta1 ? 1 : 0;
  e.regimeZCenter.fill(0);
  mz.fill(0);
  e.regimeAccepted = true;
  e.regimeSpread = sw.spread;
  e.dmReg.reset();
  e.rise.stop();
  e.hold.stop();
  e.back.stop();
  e.holdReason = "";
  for (let k = 1; k <= 5; k++) e.since[k].stop();
  const was = e.regimeOn;
  e.regimeOn = true;
  e.regimeSinceT = t;
  e.stepReason = `${prev === 1 ? "Level 1 kept" : `Level ${prev} → 1`}: new regime: D_M steady at ${num(sw.level)} ± ${num(sw.spread)} for ${num(cfg.regimeAfterS)} s without danger${was ? " (a shift on the previous regime)" : ""}; the baseline is unchanged, the levels now judge departures from this plateau until D_M is back under θ1`;
  return true;
}

/**
 * In a regime and calm, the plateau's level follows D̄_M slowly (time
 * constant half the regime window): the levels judge changes faster than
 * that, not a drift of the plateau. Frozen while alarmed (an anomaly never
 * moves the reference), and only this scalar: μ and Σ never move here.
 */
function followPlateau(e: Engine, dt: number, dmBaseline: number): void {
  const cfg = e.config;
  const n = e.n;
  const a = ewmaAlpha(dt, cfg.regimeAfterS / 2, Math.ceil(cfg.regimeMinSamples / 2));
  e.regimeLevel += a * (dmBaseline - e.regimeLevel);
  if (cfg.regimeZFollows) {
    const sm = e.dimZ.smoothed;
    const zc = e.regimeZCenter;
    const home = e.regimeHome;
    for (let j = 0; j < n; j++) if (home[j] !== 0) zc[j] += a * (sm[j] - zc[j]);
  }
}

/** Level k's whole condition holds now and its threshold part has lasted its dwell (seconds and samples). */
function admitted(e: Engine, k: number, t: number, tick: number): boolean {
  if (!e.cond[k]) return false;
  const cfg = e.config;
  const dwell = cfg.escalateAfterS;
  if (k === 5) return e.since[5].lasted(t, tick, cfg.quarantineAfterS + dwell[4], cfg.minSamples);
  return e.since[k].lasted(t, tick, dwell[k - 1], k === 1 ? 1 : cfg.minSamples);
}

/** The decision's danger when it is the engine's own (no tracker in the samples). */
function ownDanger(e: Engine, d: Decision, j: number, ttf: number): void {
  d.dangerCgroup = "";
  d.dangerResource = e.names[j];
  d.dangerEvidence = ownEvidence(e, j, ttf);
}

/** The figures behind the engine's own danger (built only while a danger holds). */
function ownEvidence(e: Engine, j: number, ttf: number): string {
  const i = e.capacityDims.indexOf(j);
  const r = e.capRegs[i];
  return `${e.names[j]} at ${r.level.toPrecision(4)}, ${signed(r.slope * 60)}/min toward ${e.dims[j].capacity} (±${(r.slopeSe * 60).toPrecision(2)}): full in ${num(ttf)} s`;
}

function dangerWords(ttf: number, dg: Sample["danger"], ownTtf: number, e: Engine): string {
  if (dg) {
    const who = dg.cgroup === null ? "" : dg.cgroup === "" ? "the node" : `cgroup ${dg.cgroup}`;
    return `${dg.resource || "a resource"}${who ? ` of ${who}` : ""} exhausted in ${num(ttf)} s (${dg.evidence})`;
  }
  return `${e.ownTtfDim >= 0 ? e.names[e.ownTtfDim] : "a resource"} exhausted in ${num(ownTtf)} s`;
}

function calmBrokenWords(e: Engine, level: Level, dm: number, theta1: number, rising: boolean, ttf: number, z: number): string {
  if (level >= 3) return `danger back (time to failure ${num(ttf)} s)`;
  if (ttf < Infinity && !(dm > theta1) && !rising && !(z > e.zeta1)) return `danger back (time to failure ${num(ttf)} s)`;
  if (!(dm >= theta1) && z > e.zeta1) return zWords(e, z);
  return `D_M ${num(dm)} ≥ θ1 ${num(theta1)}${level === 1 && rising ? " or still rising" : ""}`;
}

function escalationReason(e: Engine, target: Level, dm: number, d1: number, dangerTtf: number, dg: Sample["danger"], ownTtf: number): string {
  const th = e.thresholds;
  const cfg = e.config;
  const dw = dangerWords(dangerTtf, dg, ownTtf, e);
  switch (target) {
    case 5:
      return `D_M ${num(dm)} > θ4 ${num(th.theta4)} and containment failing for ${num(cfg.quarantineAfterS)} s: ${dw}`;
    case 4:
      if (dangerTtf < cfg.ttfCriticalS) return `danger, ${dw} < ${num(cfg.ttfCriticalS)} s`;
      return `D_M ${num(dm)} > θ4 ${num(th.theta4)} with danger: ${dw}`;
    case 3:
      return `danger: ${dw} < ${num(cfg.dangerHorizonS)} s`;
    case 2:
      return `D_M ${num(dm)} > θ2 ${num(th.theta2)} and rising significantly (${signed(d1)}/s)`;
    default:
      if (dm > th.theta1) return `D_M ${num(dm)} > θ1 ${num(th.theta1)}`;
      if (e.stepRaw > e.spike1) return `one sample of D_M ${num(e.stepRaw)} > θ1s ${num(e.spike1)} (raw, a short event of large magnitude)`;
      if (e.regimeOn ? Math.abs(e.dimZ.smoothed[e.regimeZDim] - e.regimeZCenter[e.regimeZDim]) > e.zeta1 : e.dimZ.value > e.zeta1) return zWords(e, e.dimZ.value);
      if (dangerTtf < cfg.dangerHorizonS) return `danger seen, ${dg?.pending ? "pending until its growth proves steady" : "its dwell runs"}: ${dw}`;
      return `D_M rising significantly for ${num(e.rise.heldS(e.lastT))} s (≥ ${num(cfg.sustainS)} s) by ${signed(dm - e.riseStartDm)} (≥ ${num(e.riseNeeded)}), slope ${signed(d1)}/s`;
  }
}

/** The single-dimension surprise in words: which dimension, how many σ, against ζ1. */
function zWords(e: Engine, z: number): string {
  const j = e.regimeOn ? e.regimeZDim : e.dimZ.dim;
  const c = e.regimeOn ? e.regimeZCenter[j] : 0;
  if (c !== 0) return `${e.names[j]} alone ${signed(e.dimZ.smoothed[j] - c)} σ off where it sat in this regime (${signed(c)} σ from its baseline, smoothed), beyond ζ1 ${num(e.zeta1)}`;
  return `${e.names[j]} alone ${signed(e.dimZ.smoothed[j])} σ off its baseline (smoothed), beyond ζ1 ${num(e.zeta1)}`;
}

/** How long the level's condition had held when it was admitted; nothing when it has no dwell. */
function dwellReason(e: Engine, target: Level, t: number): string {
  const cfg = e.config;
  const dwell = target === 5 ? cfg.quarantineAfterS + cfg.escalateAfterS[4] : cfg.escalateAfterS[target - 1];
  if (!(dwell > 0)) return "";
  return `; held ${num(e.since[target].heldS(t))} s ≥ ${num(dwell)} s`;
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
  e.back.stop();
  // A fresh hold: the hold toward Level 2 counts from the release, never from before it.
  e.hold.stop();
  e.holdReason = "";
  const d = e.decision;
  if (!((d.dangerTtfS ?? Infinity) < e.config.dangerHorizonS)) {
    e.hold.restart(t, e.tick);
    e.holdReason = `Level 3 → 2 waits: no danger since t=${t}, hold ${num(e.config.holdS[2])} s`;
  }
  e.since[5].stop();
  e.rise.stop();
  d.t = t;
  d.previousLevel = 5;
  d.level = 3;
  d.levelName = LEVEL_NAMES[3];
  d.reason = "Level 5 → 3: quarantine released by the operator; containment stays at Level 3 until the danger is gone for the hold";
  d.learning = false;
  return d;
}
