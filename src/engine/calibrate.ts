// Calibration: learn the baseline (μ, Σ) and the thresholds θ1..θ4 from a
// stretch of samples taken in homeostasis. μ and Σ come from all of it; θ
// come from the engine's own smoothing of D_M over data each model has not
// seen (each half judged by the other half's model), placed where the
// fitted tail of that distance gives the configured false-alarm rate per
// day (docs/engine.md §4). The baseline says whether its data support
// those rates (`supported`, `warnings`).
import { EXIT, HosaError } from "../errors.ts";
import { exp, log } from "./detmath.ts";
import type { EngineConfig } from "./engine.ts";
import { Ewma } from "./ewma.ts";
import { Mahalanobis, mahalanobisOptions } from "./mahalanobis.ts";
import { Median3 } from "./median.ts";
import type { Baseline, DimensionSpec, DmTail, Sample } from "./types.ts";
import { Welford } from "./welford.ts";

/** Streaming calibration: add() samples as they arrive (live, with progress), then finish(). */
export class Calibrator {
  private readonly dims: DimensionSpec[];
  private readonly cfg: EngineConfig;
  private readonly n: number;
  private values: Float64Array;
  private times: Float64Array;
  private filled = 0;

  constructor(dims: DimensionSpec[], cfg: EngineConfig) {
    if (dims.length === 0) throw new HosaError("cannot calibrate: no dimensions", EXIT.INPUT);
    this.dims = dims.map((d) => ({ ...d }));
    this.cfg = cfg;
    this.n = dims.length;
    this.times = new Float64Array(1024);
    this.values = new Float64Array(1024 * this.n);
  }

  get count(): number {
    return this.filled;
  }

  /** Keep a copy of the sample (the caller may reuse its buffer). */
  add(sample: Sample): void {
    const n = this.n;
    const x = sample.x;
    const t = sample.t;
    if (x.length !== n) throw new HosaError(`cannot calibrate: sample at t=${t} has ${x.length} values for ${n} dimensions`, EXIT.INPUT);
    if (!Number.isFinite(t)) throw new HosaError(`cannot calibrate: sample ${this.filled + 1} has time ${t}`, EXIT.INPUT);
    if (this.filled > 0 && t < this.times[this.filled - 1]) {
      throw new HosaError(`cannot calibrate: time goes backwards at t=${t} after t=${this.times[this.filled - 1]}`, EXIT.INPUT);
    }
    for (let j = 0; j < n; j++) {
      if (!Number.isFinite(x[j])) throw new HosaError(`cannot calibrate: sample at t=${t} has ${x[j]} for ${this.dims[j].name}`, EXIT.INPUT);
    }
    if (this.filled === this.times.length) {
      const times = new Float64Array(this.times.length * 2);
      times.set(this.times);
      this.times = times;
      const values = new Float64Array(this.values.length * 2);
      values.set(this.values);
      this.values = values;
    }
    this.times[this.filled] = t;
    this.values.set(x, this.filled * n);
    this.filled++;
  }

  finish(): Baseline {
    const n = this.n;
    const count = this.filled;
    const cfg = this.cfg;
    if (count < 2) throw new HosaError(`cannot calibrate: ${count} sample${count === 1 ? "" : "s"}, at least 2 are needed`, EXIT.INPUT);
    const full = this.learn(0, count);
    const covariance = full.covariance();
    const warnings: string[] = [];

    // Out of sample (docs/engine.md §4): the calibration is cut into
    // cfg.calibrationFolds contiguous blocks, and each block is judged by the model
    // learned on all the others (blocked cross-validation), so the distances
    // that place θ are those of data the model has not seen, as the live
    // node's will be.
    const folds = Math.min(cfg.calibrationFolds, Math.floor(count / HOLDOUT_MIN_SAMPLES));
    const heldOut = folds >= 2;
    const smoothed = new Float64Array(count);
    const cuts: number[] = [];
    if (heldOut) {
      for (let k = 0; k < folds; k++) {
        const from = Math.floor((k * count) / folds);
        const to = Math.floor(((k + 1) * count) / folds);
        const model = this.learnExcept(full, from, to);
        this.smoothInto(model.mean, model.covariance, from, to, smoothed);
        cuts.push(from);
      }
    } else {
      warnings.push(`only ${count} samples: thresholds are placed in sample (at least ${2 * HOLDOUT_MIN_SAMPLES} are needed to hold data out)`);
      this.smoothInto(full.mean, covariance, 0, count, smoothed);
    }
    const dmStats = new Welford(1);
    const one = new Float64Array(1);
    for (let i = 0; i < count; i++) {
      one[0] = smoothed[i];
      dmStats.update(one);
    }
    const dmMean = dmStats.mean[0];
    const dmStd = Math.max(Math.sqrt(dmStats.covariance()[0]), cfg.dmStdFloor);

    // Samples per day from the median step, and the mean length of an
    // excursion above the tail's threshold: an episode is a run of
    // exceedances, so the rate of episodes is P(D̄ > θ)·samplesPerDay/runLength.
    const stepS = medianStep(this.times, count);
    const spanS = this.times[count - 1] - this.times[0];
    const samplesPerDay = stepS > 0 ? 86400 / stepS : Infinity;
    const tail = fitTail(smoothed);
    const clusters = tail ? runsAbove(smoothed, tail.threshold, cuts) : { exceed: 0, runs: 0 };
    const runLength = clusters.runs > 0 ? Math.max(1, clusters.exceed / clusters.runs) : 1;
    const rates = cfg.falseAlarmsPerDay;
    const s = cfg.thresholdSigmas;
    const floors = cfg.thresholdFloors ?? [];
    const th = [0, 0, 0, 0];
    for (let k = 0; k < 4; k++) {
      let v = Math.max(dmMean + s[k] * dmStd, floors[k] ?? 0);
      if (tail) v = Math.max(v, tailQuantile(tail, (rates[k] * runLength) / samplesPerDay));
      // Well spaced: one noisy sample must not separate two levels.
      if (k > 0) v = Math.max(v, th[k - 1] + THETA_SPACING_SIGMAS * dmStd);
      th[k] = v;
    }
    const expected = th.map((v) => (tail ? (tailProbability(tail, v) * samplesPerDay) / runLength : NaN));

    let supported = true;
    if (!(spanS >= cfg.minCalibrationS)) {
      supported = false;
      warnings.push(`the calibration spans ${fmt(spanS)} s, less than ${cfg.minCalibrationS} s: too short to know this node`);
    }
    const need = cfg.minCalibrationSamplesPerDim * n;
    if (count < need) {
      supported = false;
      warnings.push(`${count} samples for ${n} dimensions: at least ${need} (${cfg.minCalibrationSamplesPerDim} per dimension) are needed for a covariance`);
    }
    if (!tail) {
      supported = false;
      warnings.push(`the distance's tail could not be fitted (${count} samples, or a flat distance): the false-alarm rates mean nothing`);
    }
    if (tail) {
      // The held-out data resolve probabilities down to about 1/count; below
      // that the rate is the fitted tail's extrapolation, not an observation.
      const days = (count * (stepS > 0 ? stepS : 0)) / 86400;
      const resolved = 1 / count;
      const extrapolated: string[] = [];
      for (let k = 0; k < 4; k++) if ((rates[k] * runLength) / samplesPerDay < resolved / 10) extrapolated.push(`θ${k + 1}`);
      if (extrapolated.length > 0) {
        warnings.push(
          `${extrapolated.join(", ")}: ${count} samples (${days < 1 ? `${fmt(days * 24)} h` : `${fmt(days)} days`}) cannot observe their rates; they are the fitted tail's extrapolation`,
        );
      }
    }
    let dmMax = -Infinity;
    for (let i = 0; i < count; i++) if (smoothed[i] > dmMax) dmMax = smoothed[i];
    return {
      version: 1,
      dims: this.dims.map((d) => ({ ...d })),
      count,
      mean: Array.from(full.mean),
      covariance: Array.from(covariance),
      dmMean,
      dmStd,
      thresholds: { theta1: th[0], theta2: th[1], theta3: th[2], theta4: th[3] },
      dmMax,
      ...(tail ? { dmTail: tail } : {}),
      supported,
      warnings,
      falseAlarmsPerDay: expected.map((v) => (Number.isFinite(v) ? v : -1)),
      stepS,
    };
  }

  /**
   * μ and Σ of every sample outside [from, to): the block's own moments
   * taken out of the full ones (Chan, Golub and LeVeque's pairwise update,
   * run backwards), O(block·n² + n²) instead of a pass over the rest.
   */
  private learnExcept(full: Welford, from: number, to: number): { mean: Float64Array; covariance: Float64Array } {
    const n = this.n;
    const block = this.learn(from, to);
    const nb = block.weight;
    const nc = full.weight - nb;
    const mean = new Float64Array(n);
    for (let j = 0; j < n; j++) mean[j] = (full.weight * full.mean[j] - nb * block.mean[j]) / nc;
    const covariance = new Float64Array(n * n);
    const k = (nb * nc) / full.weight;
    for (let i = 0; i < n; i++) {
      const di = block.mean[i] - mean[i];
      for (let j = i; j < n; j++) {
        const m2 = full.m2[i * n + j] - block.m2[i * n + j] - k * di * (block.mean[j] - mean[j]);
        const v = m2 / (nc - 1);
        covariance[i * n + j] = v;
        covariance[j * n + i] = v;
      }
    }
    return { mean, covariance };
  }

  private learn(from: number, to: number): Welford {
    const n = this.n;
    const w = new Welford(n);
    for (let i = from; i < to; i++) w.update(this.values.subarray(i * n, (i + 1) * n));
    return w;
  }

  /** The engine's own smoothing of D_M (median of three, EWMA spanning time and samples) over samples [from, to) against (mean, covariance). */
  private smoothInto(mean: ArrayLike<number>, covariance: ArrayLike<number>, from: number, to: number, out: Float64Array): void {
    const n = this.n;
    const cfg = this.cfg;
    const maha = new Mahalanobis(n, mahalanobisOptions(cfg, this.dims));
    maha.factor(mean, covariance);
    // Prime at the median raw distance (as the engine primes at dmMean; the
    // median, so one wild sample does not lift the start).
    const raws = new Float64Array(to - from);
    for (let i = from; i < to; i++) raws[i - from] = maha.distance(this.values.subarray(i * n, (i + 1) * n));
    raws.sort();
    const rawMid = raws[raws.length >> 1];
    const smooth = new Ewma(cfg.ewmaTauS, cfg.ewmaMinSamples);
    smooth.prime(rawMid);
    const median = new Median3(rawMid);
    for (let i = from; i < to; i++) {
      const raw = maha.distance(this.values.subarray(i * n, (i + 1) * n));
      let dmIn = raw;
      if (cfg.dmMedianOf3 && i > from && this.times[i] > this.times[i - 1]) dmIn = median.next(raw);
      smooth.update(this.times[i], dmIn);
      out[i] = smooth.value;
    }
  }
}

/** Each block must hold at least this many samples. */
const HOLDOUT_MIN_SAMPLES = 50;
/** θk+1 ≥ θk + this many dmStd. */
const THETA_SPACING_SIGMAS = 0.5;

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toPrecision(2);
}

/** Median of the positive steps between consecutive times (0 when none). */
function medianStep(times: Float64Array, count: number): number {
  const steps: number[] = [];
  for (let i = 1; i < count; i++) {
    const d = times[i] - times[i - 1];
    if (d > 0) steps.push(d);
  }
  if (steps.length === 0) return 0;
  steps.sort((a, b) => a - b);
  return steps[steps.length >> 1];
}

/** Exceedances of u and the runs they form; a run does not continue across a block boundary in `cuts`. */
function runsAbove(xs: Float64Array, u: number, cuts: number[]): { exceed: number; runs: number } {
  let exceed = 0;
  let runs = 0;
  let inRun = false;
  let c = 0;
  for (let i = 0; i < xs.length; i++) {
    if (c < cuts.length && i === cuts[c]) {
      inRun = false;
      c++;
    }
    if (xs[i] > u) {
      exceed++;
      if (!inRun) runs++;
      inRun = true;
    } else inRun = false;
  }
  return { exceed, runs };
}

/** P(D̄_M > v) under the fitted tail (v at or above the tail's threshold; the empirical share at the threshold below it). */
export function tailProbability(tail: DmTail, v: number): number {
  if (!(v > tail.threshold)) return tail.probability;
  return tail.probability * exp(-(v - tail.threshold) / tail.meanExcess);
}

/** Fewest calibration samples above the tail's threshold u for a fit: the mean excess of fewer is mostly noise. */
const TAIL_MIN_EXCEEDANCES = 20;

/**
 * Peaks over threshold with an exponential excess (a generalised Pareto
 * tail of shape 0): u is the empirical (1 − p) quantile of the smoothed
 * distance, p = 1 % or 20 samples' worth if that is more, and the excess
 * over u is taken as exponential with its observed mean. For a light
 * (normal-like) tail this overestimates far quantiles, which is the safe
 * side for a false-alarm floor; for a skewed χ-like or heavier tail it
 * follows the data where mean + kσ does not. Undefined with fewer than
 * 2·TAIL_MIN_EXCEEDANCES samples or a flat tail.
 */
export function fitTail(smoothed: Float64Array): DmTail | undefined {
  const count = smoothed.length;
  if (count < 2 * TAIL_MIN_EXCEEDANCES) return undefined;
  const sorted = Float64Array.from(smoothed).sort();
  const above = Math.max(Math.ceil(0.01 * count), TAIL_MIN_EXCEEDANCES);
  const threshold = sorted[count - above - 1];
  let excess = 0;
  for (let i = count - above; i < count; i++) excess += sorted[i] - threshold;
  const meanExcess = excess / above;
  if (!(meanExcess > 0)) return undefined;
  return { probability: above / count, threshold, meanExcess };
}

/** The distance exceeded with probability p under the fitted tail: u + β·ln(p_u / p); the threshold itself for p ≥ p_u. */
export function tailQuantile(tail: DmTail, p: number): number {
  if (!(p < tail.probability)) return tail.threshold;
  return tail.threshold + tail.meanExcess * log(tail.probability / p);
}

export function calibrate(samples: Iterable<Sample>, dims: DimensionSpec[], cfg: EngineConfig): Baseline {
  const c = new Calibrator(dims, cfg);
  for (const s of samples) c.add(s);
  return c.finish();
}
