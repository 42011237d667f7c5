// Calibration: learn the baseline (μ, Σ) and the thresholds θ1..θ4 from a
// stretch of samples taken in homeostasis. Two passes over the same samples:
// the first learns μ and Σ, the second runs the engine's own smoothing of
// D_M over them, so θk = dmMean + sigma_k·dmStd is measured on exactly the
// signal the level machine will compare against it (document 004 §2).
import { EXIT, HosaError } from "../errors.ts";
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
    const welford = new Welford(n);
    for (let i = 0; i < count; i++) welford.update(this.values.subarray(i * n, (i + 1) * n));
    const covariance = welford.covariance();

    const maha = new Mahalanobis(n, mahalanobisOptions(cfg, this.dims));
    maha.factor(welford.mean, covariance);
    // Prime the smoothing at the mean raw distance, as the engine primes it at dmMean.
    let rawSum = 0;
    for (let i = 0; i < count; i++) rawSum += maha.distance(this.values.subarray(i * n, (i + 1) * n));
    const rawMean = rawSum / count;
    const smooth = new Ewma(cfg.ewmaTauS);
    smooth.prime(rawMean);
    // The engine's median of three, primed the same way (engine.ts).
    const median = new Median3(rawMean);
    const dmStats = new Welford(1);
    const one = new Float64Array(1);
    const smoothed = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const raw = maha.distance(this.values.subarray(i * n, (i + 1) * n));
      let dmIn = raw;
      if (cfg.dmMedianOf3 && i > 0 && this.times[i] > this.times[i - 1]) {
        dmIn = median.next(raw);
      }
      smooth.update(this.times[i], dmIn);
      one[0] = smooth.value;
      smoothed[i] = smooth.value;
      dmStats.update(one);
    }
    const dmMean = dmStats.mean[0];
    const dmStd = Math.max(Math.sqrt(dmStats.covariance()[0]), cfg.dmStdFloor);
    const s = cfg.thresholdSigmas;
    const tail = fitTail(smoothed);
    const p = FLOOR_TAIL_PROBABILITIES;
    const floors = cfg.thresholdFloors ?? [];
    const theta = (k: number) => {
      const formula = Math.max(dmMean + s[k] * dmStd, floors[k] ?? 0);
      if (!tail || !(k < p.length)) return formula;
      return Math.max(formula, tailQuantile(tail, p[k]));
    };
    return {
      version: 1,
      dims: this.dims.map((d) => ({ ...d })),
      count,
      mean: Array.from(welford.mean),
      covariance: Array.from(covariance),
      dmMean,
      dmStd,
      thresholds: { theta1: theta(0), theta2: theta(1), theta3: theta(2), theta4: theta(3) },
      dmMax: smoothed.reduce((a, v) => (v > a ? v : a), -Infinity),
      ...(tail ? { dmTail: tail } : {}),
    };
  }
}

/** Tail probabilities of the floors of θ1..θ4: the normal upper tails of 2, 3, 4 and 5 σ. */
const FLOOR_TAIL_PROBABILITIES = [1e-4, 1e-5, 1e-6, 1e-7];

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
  return tail.threshold + tail.meanExcess * Math.log(tail.probability / p);
}

export function calibrate(samples: Iterable<Sample>, dims: DimensionSpec[], cfg: EngineConfig): Baseline {
  const c = new Calibrator(dims, cfg);
  for (const s of samples) c.add(s);
  return c.finish();
}
