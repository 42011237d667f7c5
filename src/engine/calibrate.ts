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
import { DimSurprise } from "./surprise.ts";
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
  /**
   * After finish(): the held-out statistics that placed the thresholds
   * (D̄_M, Z and the raw D_M of each held-out sample, the blocks' starts,
   * samples a day), for benches that check the rates out of sample
   * (bench/datasets-alarms.ts). Undefined before.
   */
  heldOut: { smoothed: Float64Array; zMax: Float64Array; raw: Float64Array; cuts: number[]; samplesPerDay: number } | undefined;

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
    if (cfg.quantizationFloor) this.floorAtResolution();
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
    let smoothed = new Float64Array(count);
    let zMax = new Float64Array(count);
    let raw = new Float64Array(count);
    const cuts: number[] = [];
    // heldOutOrder "forward" and "half" (tried, not kept: docs/engine.md §4)
    // judge each block by a model of the past only; the blocks they leave
    // without a past model are dropped from the placement (`skip`).
    const order = cfg.heldOutOrder;
    let skip = 0;
    if (heldOut) {
      for (let k = 0; k < folds; k++) {
        const from = Math.floor((k * count) / folds);
        const to = Math.floor(((k + 1) * count) / folds);
        let model: { mean: ArrayLike<number>; covariance: ArrayLike<number> };
        if (order === "forward") {
          if (k === 0) continue;
          const w = this.learn(0, from);
          model = { mean: w.mean, covariance: w.covariance() };
        } else if (order === "half") {
          if (k < folds >> 1) continue;
          const w = this.learn(0, Math.floor(((folds >> 1) * count) / folds));
          model = { mean: w.mean, covariance: w.covariance() };
        } else model = this.learnExcept(full, from, to);
        if (cuts.length === 0) skip = from;
        this.smoothInto(model.mean, model.covariance, from, to, smoothed, zMax, raw);
        cuts.push(from - skip);
      }
    } else {
      warnings.push(`only ${count} samples: thresholds are placed in sample (at least ${2 * HOLDOUT_MIN_SAMPLES} are needed to hold data out)`);
      this.smoothInto(full.mean, covariance, 0, count, smoothed, zMax, raw);
    }
    if (skip > 0) {
      smoothed = smoothed.subarray(skip);
      zMax = zMax.subarray(skip);
      raw = raw.subarray(skip);
    }
    const how: PlacementRule = { byBlock: cfg.thresholdsByBlock, blockQuantile: cfg.blockQuantile, runLength: cfg.episodeRunLength };
    // Samples per day from the median step: an episode is a run of
    // exceedances, so the rate of episodes is P(D̄ > θ)·samplesPerDay/runLength.
    const stepS = medianStep(this.times, count);
    const spanS = this.times[count - 1] - this.times[0];
    const samplesPerDay = stepS > 0 ? 86400 / stepS : Infinity;
    const rates = cfg.falseAlarmsPerDay;
    // With the single-dimension statistic on, the two statistics share Level
    // 1's false-alarm rate (Bonferroni): ζ1 is placed first at its share, and
    // D_M gets what Z does not use (all of it when ζ1 sits on its floor,
    // above its share's quantile). Z drives Level 1 only, so D_M keeps the
    // whole rate of Levels 2..4. With one dimension, Z is D_M itself (|z|):
    // nothing to add, nothing to share.
    const zShare = cfg.dimSurprise && n >= 2 ? cfg.dimSurpriseRateShare : 0;
    let zeta1: number | undefined;
    let zExpected = 0;
    if (zShare > 0) {
      const z = placeThresholds(zMax, cuts, heldOut, samplesPerDay, [zShare * rates[0]], cfg.thresholdSigmas, Z_FLOORS, cfg.dmStdFloor, how);
      if (z.tail) {
        zeta1 = z.thresholds[0];
        zExpected = Math.min((tailProbability(z.tail, zeta1) * samplesPerDay) / z.runLength, zShare * rates[0]);
      }
    }
    // A short event of large magnitude (docs/engine.md §10): one or two raw
    // samples of D_M, before the median and the EWMA, beyond θ1s, placed
    // the same way on the held-out raw distance at its share of Level 1's
    // rate; D_M gets what Z and the spike path do not use.
    let spike1: number | undefined;
    let sExpected = 0;
    const sShare = cfg.spikeRateShare;
    if (sShare > 0) {
      const sp = placeThresholds(raw, cuts, heldOut, samplesPerDay, [sShare * rates[0]], cfg.thresholdSigmas, [], cfg.dmStdFloor, how);
      if (sp.tail) {
        spike1 = sp.thresholds[0];
        sExpected = Math.min((tailProbability(sp.tail, spike1) * samplesPerDay) / sp.runLength, sShare * rates[0]);
      }
    }
    const dmRates = rates.map((r, k) => (k === 0 ? Math.max(r - zExpected - sExpected, r * MIN_DM_RATE_SHARE) : r));
    const dm = placeThresholds(smoothed, cuts, heldOut, samplesPerDay, dmRates, cfg.thresholdSigmas, cfg.thresholdFloors ?? [], cfg.dmStdFloor, how);
    const { tail, runLength, mean: dmMean, std: dmStd } = dm;
    const th = dm.thresholds;
    const expected = th.map((v, k) => (tail ? (tailProbability(tail, v) * samplesPerDay) / runLength + (k === 0 ? zExpected + sExpected : 0) : NaN));

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
    this.heldOut = { smoothed, zMax, raw, cuts, samplesPerDay };
    let dmMax = -Infinity;
    for (let i = 0; i < smoothed.length; i++) if (smoothed[i] > dmMax) dmMax = smoothed[i];
    return {
      version: 1,
      dims: this.dims.map((d) => ({ ...d })),
      count,
      mean: Array.from(full.mean),
      covariance: Array.from(covariance),
      dmMean,
      dmStd,
      thresholds: { theta1: th[0], theta2: th[1], theta3: th[2], theta4: th[3] },
      ...(zeta1 !== undefined ? { dimZeta1: zeta1 } : {}),
      ...(spike1 !== undefined ? { dmSpike1: Math.max(spike1, th[3]) } : {}),
      dmMax,
      ...(tail ? { dmTail: tail } : {}),
      supported,
      warnings,
      falseAlarmsPerDay: expected.map((v) => (Number.isFinite(v) ? v : -1)),
      stepS,
    };
  }

  /**
   * A measurement quantised in steps of q cannot resolve a spread below
   * q/√12 (the standard deviation of a uniform rounding error): a counter
   * read as events per tick, a share in steps of 1/3, a pool that is mostly
   * 0. Each dimension's noise floor is raised to that, with q the smallest
   * step between the distinct values the calibration saw (none for a
   * constant dimension, whose floor stays as configured). Without it a
   * dimension that sat at 0 but for a few steps reads a later step as
   * hundreds of σ, in the held-out blocks (θ placed on that tail) and live.
   */
  private floorAtResolution(): void {
    const n = this.n;
    const count = this.filled;
    const col = new Float64Array(count);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < count; i++) col[i] = this.values[i * n + j];
      col.sort();
      let q = Infinity;
      for (let i = 1; i < count; i++) {
        const d = col[i] - col[i - 1];
        if (d > 0 && d < q) q = d;
      }
      if (q === Infinity) continue;
      const floor = q / SQRT12;
      const d = this.dims[j];
      if (!(floor <= (d.noiseFloor ?? 0))) d.noiseFloor = floor;
    }
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
  private smoothInto(mean: ArrayLike<number>, covariance: ArrayLike<number>, from: number, to: number, out: Float64Array, zOut: Float64Array, rawOut: Float64Array): void {
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
    const z = new DimSurprise(n, cfg.ewmaTauS, cfg.ewmaMinSamples, cfg.dmMedianOf3);
    let prevRaw = rawMid;
    for (let i = from; i < to; i++) {
      const raw = maha.distance(this.values.subarray(i * n, (i + 1) * n));
      // The spike statistic: the smaller of this raw distance and the one
      // before (two samples in a row; one wild sample is not an event).
      const timedStep = i > from && this.times[i] > this.times[i - 1];
      rawOut[i] = cfg.spikeSamples >= 2 && prevRaw < raw ? prevRaw : raw;
      if (timedStep || i === from) prevRaw = raw;
      let dmIn = raw;
      if (cfg.dmMedianOf3 && i > from && this.times[i] > this.times[i - 1]) dmIn = median.next(raw);
      smooth.update(this.times[i], dmIn);
      out[i] = smooth.value;
      z.update(this.times[i], maha.delta, maha.invStd);
      zOut[i] = z.value;
    }
  }
}

/** How placeThresholds reads the held-out statistic (the calibration's settings of docs/engine.md §4). */
interface PlacementRule {
  byBlock: boolean;
  blockQuantile: number;
  runLength: EngineConfig["episodeRunLength"];
}

interface Placement {
  thresholds: number[];
  /** The pooled held-out tail (undefined: too few samples or a flat statistic). */
  tail: DmTail | undefined;
  runLength: number;
  mean: number;
  std: number;
}

/**
 * Thresholds 1..4 on a smoothed held-out statistic (docs/engine.md §4): the
 * fitted tail's quantile at each rate (episodes a day, an episode being a
 * run of exceedances), floored at mean + σk·std and at `floors`, spaced by
 * THETA_SPACING_SIGMAS·std. With every held-out block large enough for a
 * 1 % tail of its own (BLOCK_TAIL_MIN_SAMPLES), the mean, spread and
 * quantiles are the median over blocks of each block's own: a minority of
 * blocks holding an incident or another regime cannot lift the thresholds
 * above what the normal blocks show (the pooled tail is the mixture's, and
 * its 1 % is set by the abnormal blocks as soon as they hold 1 % of it).
 */
function placeThresholds(
  xs: Float64Array,
  cuts: number[],
  heldOut: boolean,
  samplesPerDay: number,
  rates: number[],
  sigmas: readonly number[],
  floors: readonly number[],
  stdFloor: number,
  how: PlacementRule,
): Placement {
  const count = xs.length;
  const tail = fitTail(xs);
  const clusters = tail ? runsAbove(xs, tail.threshold, cuts) : { exceed: 0, runs: 0 };
  let runLength = clusters.runs > 0 ? Math.max(1, clusters.exceed / clusters.runs) : 1;
  // Runs above a higher threshold are shorter than above u; "threshold"
  // measures them at the first quantile (when it has 3 runs), "one" counts
  // every exceedance as an episode (both tried, not kept: docs/engine.md §4).
  if (how.runLength === "one") runLength = 1;
  else if (how.runLength === "threshold" && tail) {
    const at = runsAbove(xs, tailQuantile(tail, (rates[0] * runLength) / samplesPerDay), cuts);
    if (at.runs >= 3) runLength = Math.min(runLength, Math.max(1, at.exceed / at.runs));
  }
  let [mean, std] = meanStd(xs, 0, count);
  let quantiles = rates.map((r) => (tail ? tailQuantile(tail, (r * runLength) / samplesPerDay) : -Infinity));
  const bounds = cuts.map((from, k) => [from, k + 1 < cuts.length ? cuts[k + 1] : count]);
  if (how.byBlock && tail && heldOut && bounds.every(([from, to]) => to - from >= BLOCK_TAIL_MIN_SAMPLES)) {
    const ms: number[] = [];
    const ss: number[] = [];
    const qs: number[][] = rates.map(() => []);
    for (const [from, to] of bounds) {
      const [m, sd] = meanStd(xs, from, to);
      ms.push(m);
      ss.push(sd);
      const bt = fitTail(xs.subarray(from, to));
      // A flat block (no tail) has nothing above its threshold: its quantiles are its own maximum.
      rates.forEach((r, q) => qs[q].push(bt ? tailQuantile(bt, (r * runLength) / samplesPerDay) : m));
    }
    mean = median(ms);
    std = median(ss);
    quantiles = qs.map((q) => quantileOf(q, how.blockQuantile));
  }
  std = Math.max(std, stdFloor);
  const th: number[] = [];
  for (let k = 0; k < rates.length; k++) {
    let v = Math.max(mean + sigmas[k] * std, floors[k] ?? 0, quantiles[k]);
    // Well spaced: one noisy sample must not separate two levels.
    if (k > 0) v = Math.max(v, th[k - 1] + THETA_SPACING_SIGMAS * std);
    th.push(v);
  }
  return { thresholds: th, tail, runLength, mean, std };
}

/** Mean and (unbiased) standard deviation of xs[from, to). */
function meanStd(xs: Float64Array, from: number, to: number): [number, number] {
  const w = new Welford(1);
  const one = new Float64Array(1);
  for (let i = from; i < to; i++) {
    one[0] = xs[i];
    w.update(one);
  }
  return [w.mean[0], Math.sqrt(w.covariance()[0])];
}

/** The q-quantile of a few numbers, linear between order statistics (q 0.5: the median). */
function quantileOf(xs: number[], q: number): number {
  if (q === 0.5) return median(xs);
  const v = [...xs].sort((a, b) => a - b);
  const h = q * (v.length - 1);
  const lo = Math.floor(h);
  return lo + 1 < v.length ? v[lo] + (h - lo) * (v[lo + 1] - v[lo]) : v[lo];
}

/** Median of a few numbers (the mean of the middle two for an even count). */
function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const h = v.length >> 1;
  return v.length % 2 === 1 ? v[h] : (v[h - 1] + v[h]) / 2;
}

const SQRT12 = Math.sqrt(12);
/** Thresholds come from the median over held-out blocks when every block holds this many samples (a 1 % tail of 20). */
const BLOCK_TAIL_MIN_SAMPLES = 2000;
/** Absolute floor of ζ1: a single dimension within 3 σ of its mean is never a surprise. */
const Z_FLOORS = [3];

/** D_M keeps at least this share of Level 1's rate whatever the other paths use. */
const MIN_DM_RATE_SHARE = 0.1;
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
