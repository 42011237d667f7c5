// Mahalanobis distance D_M = sqrt((x−μ)ᵀ Σ⁻¹ (x−μ)) against a regularised
// covariance, by Cholesky factorisation (Σ = L Lᵀ) and two triangular solves
// on preallocated buffers. Σ⁻¹ is never formed: an explicit inverse loses
// about twice the digits of a factorisation on ill-conditioned matrices
// (Higham, "Accuracy and Stability of Numerical Algorithms", §14.1).
import type { DimensionSpec } from "./types.ts";

export interface MahalanobisOptions {
  /** Weight in [0, 1] of the diagonal target: Σ' = (1−s)·Σ + s·diag(Σ). */
  shrinkage: number;
  /** Smallest standard deviation as a fraction of |μ_j| (a constant dimension's spread). */
  stdFloorRel: number;
  /** Smallest standard deviation in the dimension's own unit, for a dimension stuck at 0. */
  stdFloorAbs: number;
  /** Per-dimension floors (DimensionSpec.noiseFloor / noiseFloorRel); the larger of these and the global ones wins. */
  dimFloorAbs?: ArrayLike<number>;
  dimFloorRel?: ArrayLike<number>;
}

/** The distance's regularisation for these dimensions: the global floors and each dimension's own noise floor. */
export function mahalanobisOptions(cfg: { shrinkage: number; stdFloorRel: number; stdFloorAbs: number }, dims: readonly DimensionSpec[]): MahalanobisOptions {
  return {
    shrinkage: cfg.shrinkage,
    stdFloorRel: cfg.stdFloorRel,
    stdFloorAbs: cfg.stdFloorAbs,
    dimFloorAbs: Float64Array.from(dims, (d) => d.noiseFloor ?? 0),
    dimFloorRel: Float64Array.from(dims, (d) => d.noiseFloorRel ?? 0),
  };
}

/** Pivots below this fraction of their diagonal are rank deficiency (collinear dimensions), not data. */
const PIVOT_FLOOR_REL = 1e-10;

/** A factorised baseline (μ, Σ'), O(n²) per distance, no allocation after construction. */
export class Mahalanobis {
  readonly n: number;
  readonly mean: Float64Array;
  /** Regularised variances diag(Σ') used for standardised deviations z_j = δ_j / sqrt(var_j). */
  readonly variance: Float64Array;
  /** 1/sqrt(variance_j): standardises a deviation without a square root per sample. */
  readonly invStd: Float64Array;
  /** Lower-triangular Cholesky factor, row-major n×n (upper part unused). */
  chol: Float64Array;
  /** 1/L_ii (with `chol`, replaced by factor()). */
  invDiag: Float64Array;
  /**
   * The factor before the last factor() (its buffers are the next factor's):
   * solve(true) reads it, for the δ of a distance taken before that
   * factor() (the engine's dominant dimensions of a step that refactorised).
   */
  private cholPrev: Float64Array;
  private invDiagPrev: Float64Array;
  /** δ = x − μ of the last distance() call. */
  readonly delta: Float64Array;
  /** y = Σ'⁻¹ δ of the last distance() call (δ_j·y_j are the terms of D_M²). */
  readonly solved: Float64Array;
  /** u = L⁻¹δ of the last forward substitution, which solve() reads (the engine's pass fills it, src/engine/surprise.ts). */
  readonly work: Float64Array;
  private readonly opts: MahalanobisOptions;
  /**
   * Per dimension, the floors factor() applies: the larger relative floor
   * (its own or the global), the larger absolute one and its square. Taken
   * from the options once: the same operand either comparison picks, so the
   * same floor.
   */
  private readonly floorRel: Float64Array;
  private readonly floorAbs: Float64Array;
  private readonly floorAbsSq: Float64Array;

  constructor(n: number, opts: MahalanobisOptions) {
    this.n = n;
    this.opts = opts;
    this.floorRel = new Float64Array(n);
    this.floorAbs = new Float64Array(n);
    this.floorAbsSq = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const dimRel = opts.dimFloorRel?.[j] ?? 0;
      const dimAbs = opts.dimFloorAbs?.[j] ?? 0;
      this.floorRel[j] = dimRel > opts.stdFloorRel ? dimRel : opts.stdFloorRel;
      const fa = dimAbs > opts.stdFloorAbs ? dimAbs : opts.stdFloorAbs;
      this.floorAbs[j] = fa;
      this.floorAbsSq[j] = fa * fa;
    }
    this.mean = new Float64Array(n);
    this.variance = new Float64Array(n);
    this.invStd = new Float64Array(n);
    this.chol = new Float64Array(n * n);
    this.invDiag = new Float64Array(n);
    this.cholPrev = new Float64Array(n * n);
    this.invDiagPrev = new Float64Array(n);
    this.delta = new Float64Array(n);
    this.solved = new Float64Array(n);
    this.work = new Float64Array(n);
  }

  /**
   * Factorise the regularised covariance of (mean, covariance); covariance
   * is n×n row-major, its lower triangle read. With `scale` and `upper`,
   * the covariance is scale·M for the upper triangle of M (Welford's m2 and
   * 1/(W − 1), its entries what Welford.covarianceInto would write, the
   * same products): no n×n copy first.
   */
  factor(mean: ArrayLike<number>, covariance: ArrayLike<number>, scale = 1, upper = false): void {
    const n = this.n;
    // Entry (i, j), j ≤ i, at i·rs + j·cs: the lower triangle, or the upper one's mirror.
    const rs = upper ? 1 : n;
    const cs = upper ? n : 1;
    // Into the spare buffers, every entry that is read written first; they become the factor at the end.
    const L = this.cholPrev;
    const invDiag = this.invDiagPrev;
    const keep = 1 - this.opts.shrinkage;
    const floorRel = this.floorRel;
    const floorAbs = this.floorAbs;
    const floorAbsSq = this.floorAbsSq;
    for (let j = 0; j < n; j++) {
      const m = mean[j];
      this.mean[j] = m;
      // Floor the diagonal relative to the dimension's scale: a constant
      // dimension has variance 0, and Cholesky of a singular matrix divides by 0.
      const fr = floorRel[j] * Math.abs(m);
      const fa = floorAbs[j];
      const floor = fr > fa ? fr * fr : floorAbsSq[j];
      // x·1 is x to the bit (NaN and −0 included): the plain covariance is read as it is.
      const v = covariance[j * n + j] * scale;
      const kept = v > floor ? v : floor;
      this.variance[j] = kept;
      this.invStd[j] = 1 / Math.sqrt(kept);
    }
    // Shrink toward the diagonal: off-diagonal terms scaled by (1−s) keep Σ'
    // positive definite when dimensions are collinear (rank-deficient Σ).
    // Two entries of a row at a time, as in distance2's forward substitution:
    // two independent chains, each sum in its own order (same bits).
    for (let i = 0; i < n; i++) {
      const row = i * n;
      const src = i * rs;
      let j = 0;
      for (; j + 1 < i; j += 2) {
        const rowJ = j * n;
        const rowJ1 = rowJ + n;
        let s0 = keep * (covariance[src + j * cs] * scale);
        let s1 = keep * (covariance[src + (j + 1) * cs] * scale);
        for (let k = 0; k < j; k++) {
          const lik = L[row + k];
          s0 -= lik * L[rowJ + k];
          s1 -= lik * L[rowJ1 + k];
        }
        const l0 = s0 * invDiag[j];
        L[row + j] = l0;
        s1 -= l0 * L[rowJ1 + j];
        L[row + j + 1] = s1 * invDiag[j + 1];
      }
      for (; j < i; j++) {
        let sum = keep * (covariance[src + j * cs] * scale);
        const rowJ = j * n;
        for (let k = 0; k < j; k++) sum -= L[row + k] * L[rowJ + k];
        L[row + j] = sum * invDiag[j];
      }
      let sum = this.variance[i];
      for (let k = 0; k < i; k++) sum -= L[row + k] * L[row + k];
      // With no shrinkage a collinear pair leaves a zero (or rounding-negative)
      // pivot; flooring it keeps D_M finite, and large along the broken relation.
      const minPivot = this.variance[i] * PIVOT_FLOOR_REL;
      const p = Math.sqrt(sum > minPivot ? sum : minPivot);
      L[row + i] = p;
      invDiag[i] = 1 / p;
    }
    this.cholPrev = this.chol;
    this.invDiagPrev = this.invDiag;
    this.chol = L;
    this.invDiag = invDiag;
  }

  /**
   * D_M² of x. Leaves δ in `delta` and Σ'⁻¹δ in `solved`. A non-finite
   * coordinate counts as "no news" (δ_j = 0) rather than poisoning the distance.
   */
  distance2(x: ArrayLike<number>): number {
    const d2 = this.forward2(x);
    this.solve();
    return d2;
  }

  /**
   * D_M² of x by the forward substitution alone: leaves δ in `delta` and
   * L⁻¹δ in a scratch that solve() turns into `solved` (until the next
   * forward2 or factor). The engine needs Σ'⁻¹δ only for the dominant
   * dimensions, which a caller may never ask for.
   */
  forward2(x: ArrayLike<number>): number {
    const n = this.n;
    const d = this.delta;
    const mean = this.mean;
    for (let i = 0; i < n; i++) {
      const v = x[i] - mean[i];
      d[i] = v === v && v !== Infinity && v !== -Infinity ? v : 0;
    }
    return this.forwardDelta();
  }

  /**
   * forward2 of the δ already in `delta` (its caller filled it as forward2
   * does: the engine computes δ in its one pass over the dimensions,
   * src/engine/surprise.ts).
   */
  forwardDelta(): number {
    const n = this.n;
    const L = this.chol;
    const d = this.delta;
    const u = this.work;
    const inv = this.invDiag;
    // L u = δ, then D² = |u|². Four rows at a time: each row's sum is a
    // chain of dependent subtractions, and independent chains run side by
    // side in the processor; every sum still takes its terms in the same
    // order (k = 0, 1, …), so the result is the same to the last bit.
    let d2 = 0;
    let i = 0;
    for (; i + 3 < n; i += 4) {
      let s0 = d[i];
      let s1 = d[i + 1];
      let s2 = d[i + 2];
      let s3 = d[i + 3];
      const row0 = i * n;
      const row1 = row0 + n;
      const row2 = row1 + n;
      const row3 = row2 + n;
      for (let k = 0; k < i; k++) {
        const uk = u[k];
        s0 -= L[row0 + k] * uk;
        s1 -= L[row1 + k] * uk;
        s2 -= L[row2 + k] * uk;
        s3 -= L[row3 + k] * uk;
      }
      const u0 = s0 * inv[i];
      u[i] = u0;
      s1 -= L[row1 + i] * u0;
      s2 -= L[row2 + i] * u0;
      s3 -= L[row3 + i] * u0;
      const u1 = s1 * inv[i + 1];
      u[i + 1] = u1;
      s2 -= L[row2 + i + 1] * u1;
      s3 -= L[row3 + i + 1] * u1;
      const u2 = s2 * inv[i + 2];
      u[i + 2] = u2;
      s3 -= L[row3 + i + 2] * u2;
      const u3 = s3 * inv[i + 3];
      u[i + 3] = u3;
      d2 += u0 * u0;
      d2 += u1 * u1;
      d2 += u2 * u2;
      d2 += u3 * u3;
    }
    for (; i < n; i++) {
      let s = d[i];
      const row = i * n;
      for (let k = 0; k < i; k++) s -= L[row + k] * u[k];
      const ui = s * inv[i];
      u[i] = ui;
      d2 += ui * ui;
    }
    return d2;
  }

  /**
   * Σ'⁻¹δ into `solved` for the δ of the last forward2(): the back
   * substitution Lᵀ y = u, Lᵀ read down L's column (Lᵀ[i][k] = L[k][i]).
   * `previous`: with the factor before the last factor(), when that
   * forward2() came before it.
   */
  solve(previous = false): void {
    const n = this.n;
    const u = this.work;
    const y = this.solved;
    const inv = previous ? this.invDiagPrev : this.invDiag;
    const L = previous ? this.cholPrev : this.chol;
    for (let i = n - 1; i >= 0; i--) {
      let s = u[i];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * y[k];
      y[i] = s * inv[i];
    }
  }

  distance(x: ArrayLike<number>): number {
    return Math.sqrt(this.distance2(x));
  }
}
