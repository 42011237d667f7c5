// Calibration: learn the baseline (μ, Σ) and the thresholds θ1..θ4 from a
// stretch of samples taken in homeostasis. Two passes over the same samples:
// the first learns μ and Σ, the second runs the engine's own smoothing of
// D_M over them, so θk = dmMean + sigma_k·dmStd is measured on exactly the
// signal the level machine will compare against it (document 004 §2).
import { EXIT } from "../cli/exit-codes.ts";
import { HosaError } from "../errors.ts";
import type { EngineConfig } from "./engine.ts";
import { Ewma } from "./ewma.ts";
import { Mahalanobis } from "./mahalanobis.ts";
import type { Baseline, DimensionSpec, Sample } from "./types.ts";
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

    const maha = new Mahalanobis(n, { shrinkage: cfg.shrinkage, stdFloorRel: cfg.stdFloorRel, stdFloorAbs: cfg.stdFloorAbs });
    maha.factor(welford.mean, covariance);
    // Prime the smoothing at the mean raw distance, as the engine primes it at dmMean.
    let rawSum = 0;
    for (let i = 0; i < count; i++) rawSum += maha.distance(this.values.subarray(i * n, (i + 1) * n));
    const smooth = new Ewma(cfg.ewmaTauS);
    smooth.prime(rawSum / count);
    const dmStats = new Welford(1);
    const one = new Float64Array(1);
    for (let i = 0; i < count; i++) {
      smooth.update(this.times[i], maha.distance(this.values.subarray(i * n, (i + 1) * n)));
      one[0] = smooth.value;
      dmStats.update(one);
    }
    const dmMean = dmStats.mean[0];
    const dmStd = Math.max(Math.sqrt(dmStats.covariance()[0]), cfg.dmStdFloor);
    const s = cfg.thresholdSigmas;
    return {
      version: 1,
      dims: this.dims.map((d) => ({ ...d })),
      count,
      mean: Array.from(welford.mean),
      covariance: Array.from(covariance),
      dmMean,
      dmStd,
      thresholds: {
        theta1: dmMean + s[0] * dmStd,
        theta2: dmMean + s[1] * dmStd,
        theta3: dmMean + s[2] * dmStd,
        theta4: dmMean + s[3] * dmStd,
      },
    };
  }
}

export function calibrate(samples: Iterable<Sample>, dims: DimensionSpec[], cfg: EngineConfig): Baseline {
  const c = new Calibrator(dims, cfg);
  for (const s of samples) c.add(s);
  return c.finish();
}
