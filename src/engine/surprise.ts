// The second statistic (docs/engine.md §7): the largest smoothed standardised
// deviation of one dimension, Z = max_j |z̄_j|, z_j = (x_j − μ_j)/σ_j. The
// joint distance D_M spreads a surprise confined to one or two of many
// dimensions over all of them (√n dilution: one dimension at 6 σ among 38
// barely moves D_M); Z sees it whole. Each z_j passes the same running median
// of three and the same EWMA (τ spanning time and samples) as D_M, so a
// single sample (one step of quantisation noise) is never an event. Its
// thresholds ζ1..ζ4 are placed like θ, out of sample, on the max over
// dimensions itself (max-statistic calibration: the multiplicity of n
// dimensions is in the distribution that places ζ). No allocation per step.
import { AlphaMemo } from "./ewma.ts";
import { median3Sel } from "./median.ts";

export class DimSurprise {
  readonly n: number;
  private readonly tauS: number;
  private readonly minSamples: number;
  private readonly medianOf3: boolean;
  private readonly prev1: Float64Array;
  private readonly prev2: Float64Array;
  /** Smoothed z per dimension. */
  readonly smoothed: Float64Array;
  /** Scratch for the branch-free median of three. */
  private readonly sel = new Float64Array(3);
  private lastT = NaN;
  private readonly memo: AlphaMemo;
  /** max_j |z̄_j| after the last update (its dimension: `dim`). */
  value = 0;

  /** `memo`: an AlphaMemo of the same τ and minSamples to share with other smoothers stepping at the same times (see AlphaMemo). */
  constructor(n: number, tauS: number, minSamples: number, medianOf3: boolean, memo?: AlphaMemo) {
    this.n = n;
    this.tauS = tauS;
    this.minSamples = minSamples;
    this.medianOf3 = medianOf3;
    if (memo && (memo.tauS !== tauS || memo.minSamples !== minSamples)) throw new Error("DimSurprise: a shared AlphaMemo must have the same τ and minSamples");
    this.memo = memo ?? new AlphaMemo(tauS, minSamples);
    this.prev1 = new Float64Array(n);
    this.prev2 = new Float64Array(n);
    this.smoothed = new Float64Array(n);
  }

  /**
   * Left by pass(): φ's numerator Σ_j s_j·δ_j/σ_j, the propagation index
   * (the largest z_j of a propagation dimension, at least 0) and its
   * dimension (kept from the pass before when none is above 0), and whether
   * every coordinate of x was finite.
   */
  phiSum = 0;
  icp = 0;
  /** D_M² of the pass's δ when it was given the factor (0 otherwise). */
  d2 = 0;
  icpDim = 0;
  finite = true;

  /** Back to the baseline (every z̄ at 0) with the clock unset. */
  reset(): void {
    this.prev1.fill(0);
    this.prev2.fill(0);
    this.smoothed.fill(0);
    this.lastT = NaN;
    this.value = 0;
  }

  /**
   * The dimension of the largest |z̄_j| (the first of equals), found when
   * read: only a reason in words names it, so the pass keeps the largest
   * value alone (see maxOf).
   */
  get dim(): number {
    const zs = this.smoothed;
    let best = -1;
    let bestJ = 0;
    for (let j = 0; j < this.n; j++) {
      const m = Math.abs(zs[j]);
      if (m > best) {
        best = m;
        bestJ = j;
      }
    }
    return bestJ;
  }

  /**
   * The engine's one pass over the dimensions (src/engine/engine.ts step):
   * δ = x − μ into `delta` as Mahalanobis.forward2 makes it (a non-finite
   * δ_j counts as 0), then per dimension with z_j = δ_j/σ_j what update()
   * does when `judge` (the median of three and the EWMA of z_j, and their
   * largest |z̄_j|), the term s_j·δ_j/σ_j of φ (contributions.ts
   * loadDirection) and the propagation index over the dimensions flagged in
   * `propagation`. One loop instead of five; every value is computed by the
   * same expression and every sum in the same order as in those, so the
   * same bits. With `chol`, `invDiag` and `u` (Mahalanobis's factor and its
   * scratch) it is also Mahalanobis.forwardDelta: row j of L u = δ once δ_j
   * is known, its terms k = 0, 1, … in the same order, D_M² (Σ u_j² in
   * order) in `d2`. The rows are a chain, each waiting for the one before;
   * in the pass the processor runs the other dimensions' work beside it.
   */
  pass(
    t: number,
    x: ArrayLike<number>,
    mean: Float64Array,
    delta: Float64Array,
    invStd: Float64Array,
    signs: Float64Array,
    propagation: Uint8Array,
    judge: boolean,
    chol?: Float64Array,
    invDiag?: Float64Array,
    u?: Float64Array,
  ): void {
    let smooth = false;
    let a = 0;
    if (judge) {
      const last = this.lastT;
      if (last !== last) this.lastT = t;
      else {
        const dt = t - last;
        if (dt > 0) {
          this.lastT = t;
          a = this.memo.alpha(dt);
          smooth = true;
        }
      }
    }
    const median = smooth && this.medianOf3;
    const n = this.n;
    const p1 = this.prev1;
    const p2 = this.prev2;
    const zs = this.smoothed;
    const sel = this.sel;
    let best = 0;
    let phi = 0;
    let icp = 0;
    let icpDim = this.icpDim;
    let finite = true;
    const forward = chol !== undefined && invDiag !== undefined && u !== undefined;
    let d2 = 0;
    for (let j = 0; j < n; j++) {
      const xj = x[j];
      if (!(xj - xj === 0)) finite = false;
      const v = xj - mean[j];
      const dj = v === v && v !== Infinity && v !== -Infinity ? v : 0;
      delta[j] = dj;
      if (forward) {
        let sum = dj;
        const row = j * n;
        for (let k = 0; k < j; k++) sum -= chol[row + k] * u[k];
        const uj = sum * invDiag[j];
        u[j] = uj;
        d2 += uj * uj;
      }
      const is = invStd[j];
      phi += signs[j] * dj * is;
      const z = dj * is;
      if (propagation[j] !== 0 && z > icp) {
        icp = z;
        icpDim = j;
      }
      if (!smooth) continue;
      let zin = z;
      if (median) {
        zin = medianOf3(p1, p2, sel, j, z);
      }
      const s = zs[j] + a * (zin - zs[j]);
      zs[j] = s;
      best = maxOf(best, Math.abs(s));
    }
    this.phiSum = phi;
    this.d2 = d2;
    this.icp = icp;
    this.icpDim = icpDim;
    this.finite = finite;
    if (smooth) this.value = best - best === 0 ? best : largestAbs(zs);
  }

  /** Take the deviations δ (x − μ) at time t, standardised by invStd. A repeated or first timestamp carries no weight. */
  update(t: number, delta: Float64Array, invStd: Float64Array): void {
    const last = this.lastT;
    if (last !== last) {
      this.lastT = t;
      return;
    }
    const dt = t - last;
    if (!(dt > 0)) return;
    this.lastT = t;
    const a = this.memo.alpha(dt);
    const n = this.n;
    const p1 = this.prev1;
    const p2 = this.prev2;
    const zs = this.smoothed;
    let best = 0;
    if (this.medianOf3) {
      for (let j = 0; j < n; j++) {
        const zin = medianOf3(p1, p2, this.sel, j, delta[j] * invStd[j]);
        const s = zs[j] + a * (zin - zs[j]);
        zs[j] = s;
        best = maxOf(best, Math.abs(s));
      }
    } else {
      for (let j = 0; j < n; j++) {
        const s = zs[j] + a * (delta[j] * invStd[j] - zs[j]);
        zs[j] = s;
        best = maxOf(best, Math.abs(s));
      }
    }
    this.value = best - best === 0 ? best : largestAbs(zs);
  }
}

/**
 * The larger of two non-negative numbers by arithmetic, (a + b + |a − b|)/2:
 * within a unit in the last place of max(a, b), and without a branch. Z's
 * maximum over the dimensions by comparisons mispredicted on noise (which
 * dimension is largest changes from sample to sample), and each miss threw
 * away the pass's work in flight: a fifth of a learning step at 8
 * dimensions (bench/RESULTS-footprint.md, branch eng8b). A NaN or an
 * infinite z̄_j makes it NaN; the caller then takes largestAbs().
 */
function maxOf(a: number, b: number): number {
  return 0.5 * (a + b + Math.abs(a - b));
}

/** max_j |z̄_j| by comparisons (NaN skipped, ±Infinity kept): where maxOf cannot say. */
function largestAbs(zs: Float64Array): number {
  let best = 0;
  for (let j = 0; j < zs.length; j++) {
    const m = Math.abs(zs[j]);
    if (m > best) best = m;
  }
  return best;
}

/**
 * The median of (a2, a1, z), a1 and a2 the two z of dimension j before this
 * one (`p1`, `p2`, shifted here to take z): median3 without a branch
 * (median.ts median3Sel: on noise the branches mispredict about half the
 * time). Same values picked, same bits.
 */
function medianOf3(p1: Float64Array, p2: Float64Array, sel: Float64Array, j: number, z: number): number {
  const a1 = p1[j]!;
  const a2 = p2[j]!;
  p2[j] = a1;
  p1[j] = z;
  return median3Sel(sel, a2, a1, z);
}
