import { describe, expect, test } from "bun:test";
import { gaussian, prng } from "../../test/prng.ts";
import { computeShares, loadDirection, selectDominant } from "./contributions.ts";
import { Mahalanobis } from "./mahalanobis.ts";
import type { Contribution } from "./types.ts";
import { Welford } from "./welford.ts";

const exact = { shrinkage: 0, stdFloorRel: 1e-6, stdFloorAbs: 1e-6 };

function factored(mean: number[], cov: number[], opts = exact): Mahalanobis {
  const m = new Mahalanobis(mean.length, opts);
  m.factor(mean, cov);
  return m;
}

describe("Mahalanobis", () => {
  test("D_M of a 2-D case computed by hand", () => {
    // Σ = [[4,2],[2,3]], det 8, Σ⁻¹ = [[3,−2],[−2,4]]/8; δ = (2,−1):
    // Σ⁻¹δ = (1, −1), D² = 2·1 + (−1)(−1) = 3.
    const m = factored([1, 2], [4, 2, 2, 3]);
    expect(m.distance2([3, 1])).toBeCloseTo(3, 12);
    expect(m.distance([3, 1])).toBeCloseTo(Math.sqrt(3), 12);
    expect(m.solved[0]).toBeCloseTo(1, 12);
    expect(m.solved[1]).toBeCloseTo(-1, 12);
    // Cholesky factor of Σ: L = [[2,0],[1,√2]].
    expect(m.chol[0]).toBeCloseTo(2, 12);
    expect(m.chol[2]).toBeCloseTo(1, 12);
    expect(m.chol[3]).toBeCloseTo(Math.SQRT2, 12);
  });

  test("shrinkage scales the off-diagonal terms by (1 − s), computed by hand", () => {
    // s = 0.5: Σ' = [[4,1],[1,3]], det 11, Σ'⁻¹ = [[3,−1],[−1,4]]/11; δ = (2,−1): D² = 20/11.
    const m = factored([1, 2], [4, 2, 2, 3], { ...exact, shrinkage: 0.5 });
    expect(m.distance2([3, 1])).toBeCloseTo(20 / 11, 12);
    // s = 1: only the variances: D² = 2²/4 + 1/3.
    const d = factored([1, 2], [4, 2, 2, 3], { ...exact, shrinkage: 1 });
    expect(d.distance2([3, 1])).toBeCloseTo(1 + 1 / 3, 12);
  });

  test("contributions are the shares of D_M², computed by hand", () => {
    const m = factored([1, 2], [4, 2, 2, 3]);
    m.distance2([3, 1]);
    const shares = new Float64Array(2);
    computeShares(m.delta, m.solved, shares);
    // δ∘Σ⁻¹δ = (2·1, (−1)(−1)) = (2, 1) of D² = 3.
    expect(shares[0]).toBeCloseTo(2 / 3, 12);
    expect(shares[1]).toBeCloseTo(1 / 3, 12);
  });

  test("a negative term of D_M² gets share 0 and the rest still sums to 1", () => {
    // ρ = 0.9, δ = (1, 0.2): Σ⁻¹δ = (0.82, −0.7)/0.19, the second term is −0.14/0.19.
    const m = factored([0, 0], [1, 0.9, 0.9, 1]);
    m.distance2([1, 0.2]);
    const shares = new Float64Array(2);
    computeShares(m.delta, m.solved, shares);
    expect(shares[0]).toBe(1);
    expect(shares[1]).toBe(0);
  });

  test("shares sum to 1, and x = μ shares equally", () => {
    const r = prng(9);
    const m = factored([0, 0, 0, 0], [2, 0.3, 0.1, 0, 0.3, 1, 0.2, 0.1, 0.1, 0.2, 3, 0.5, 0, 0.1, 0.5, 1]);
    const shares = new Float64Array(4);
    for (let k = 0; k < 100; k++) {
      m.distance2([gaussian(r), gaussian(r), gaussian(r), gaussian(r)]);
      computeShares(m.delta, m.solved, shares);
      expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
      for (const s of shares) expect(s).toBeGreaterThanOrEqual(0);
    }
    m.distance2([0, 0, 0, 0]);
    computeShares(m.delta, m.solved, shares);
    expect(Array.from(shares)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  test("selectDominant() keeps the largest shares, largest first, ties by index", () => {
    const dominant: Contribution[] = [0, 1, 2].map(() => ({ dim: "", share: 0 }));
    selectDominant(Float64Array.from([0.1, 0.4, 0.1, 0.3, 0.1]), ["a", "b", "c", "d", "e"], new Int32Array(3), dominant);
    expect(dominant).toEqual([
      { dim: "b", share: 0.4 },
      { dim: "d", share: 0.3 },
      { dim: "a", share: 0.1 },
    ]);
  });

  for (const kind of ["diagonal", "any invertible"] as const) {
    test(`D_M is invariant under an affine change of units x → A·x + b (${kind} A, shrinkage 0)`, () => {
      const n = 4;
      const r = prng(kind === "diagonal" ? 21 : 22);
      const A = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) A[i * n + j] = kind === "diagonal" ? (i === j ? [1e3, 0.01, -7, 42][i] : 0) : gaussian(r) + (i === j ? 3 : 0);
      }
      const b = [1e4, -3, 0.5, 77];
      const map = (x: Float64Array) => {
        const y = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          let s = b[i];
          for (let j = 0; j < n; j++) s += A[i * n + j] * x[j];
          y[i] = s;
        }
        return y;
      };
      const raw = new Welford(n);
      const moved = new Welford(n);
      for (let k = 0; k < 5000; k++) {
        const x = Float64Array.from([gaussian(r), gaussian(r) + 0.5 * k * 1e-4, gaussian(r) * 3, gaussian(r)]);
        x[3] += 0.8 * x[0];
        raw.update(x);
        moved.update(map(x));
      }
      const m1 = factored(Array.from(raw.mean), Array.from(raw.covariance()));
      const m2 = factored(Array.from(moved.mean), Array.from(moved.covariance()));
      for (let k = 0; k < 50; k++) {
        const x = Float64Array.from([gaussian(r) * 4, gaussian(r) * 4, gaussian(r) * 4, gaussian(r) * 4]);
        const d1 = m1.distance(x);
        const d2 = m2.distance(map(x));
        expect(Math.abs(d1 - d2)).toBeLessThan(1e-9 * Math.max(1, d1));
      }
    });
  }

  test("with a diagonal change of units D_M stays invariant under shrinkage too", () => {
    const m1 = factored([0, 0], [4, 2, 2, 3], { ...exact, shrinkage: 0.3 });
    // x → (10·x0 + 5, 0.1·x1 − 1): Σ → D Σ D.
    const m2 = factored([5, -1], [400, 2, 2, 0.03], { ...exact, shrinkage: 0.3 });
    expect(Math.abs(m1.distance([1.5, -2]) - m2.distance([20, -1.2]))).toBeLessThan(1e-12);
  });

  test("a constant dimension gives a finite D_M (diagonal floored to its scale)", () => {
    for (const shrinkage of [0, 0.05]) {
      const m = factored([5, 0, 3], [1, 0, 0.5, 0, 0, 0, 0.5, 0, 2], { ...exact, shrinkage });
      for (const x of [
        [5, 0, 3],
        [6, 0, 3],
        [5, 1, 3],
        [5, 0, 3.0001],
      ]) {
        const d = m.distance(x);
        expect(Number.isFinite(d)).toBe(true);
      }
      // The constant dimension (value 0, no scale at all) moving is still finite and huge.
      expect(m.distance([5, 1, 3])).toBeGreaterThan(1e5);
      expect(m.distance([5, 0, 3])).toBe(0);
    }
  });

  test("collinear dimensions give a finite D_M, with and without shrinkage", () => {
    const w = new Welford(3);
    const r = prng(4);
    for (let k = 0; k < 1000; k++) {
      const a = gaussian(r);
      w.update([a, 2 * a + 1, -a]);
    }
    for (const shrinkage of [0, 0.05]) {
      const m = factored(Array.from(w.mean), Array.from(w.covariance()), { ...exact, shrinkage });
      for (const x of [
        [0, 1, 0],
        [1, 3, -1],
        [1, 0, 5],
      ]) {
        const d = m.distance(x);
        expect(Number.isFinite(d)).toBe(true);
        expect(Number.isNaN(d)).toBe(false);
      }
      // Along the learned relation the distance is ordinary; against it, it is large.
      expect(m.distance([1, 3, -1])).toBeLessThan(m.distance([1, 0, 5]));
    }
  });

  test("a non-finite coordinate counts as no deviation", () => {
    const m = factored([1, 2], [4, 2, 2, 3]);
    expect(m.distance2([NaN, 2])).toBe(0);
    expect(Number.isFinite(m.distance2([Infinity, 5]))).toBe(true);
  });

  test("load direction φ is signed by loadSign: + over-demand, − under-demand", () => {
    const m = factored([0, 0, 0], [1, 0, 0, 0, 4, 0, 0, 0, 1]);
    const signs = Float64Array.from([1, -1, 0]);
    const norm = Math.SQRT2;
    m.distance2([2, 0, 0]);
    expect(loadDirection(m.delta, m.invStd, signs, norm)).toBeCloseTo(2 / norm, 12);
    // Free memory (loadSign −1) rising by 2σ is less demand.
    m.distance2([0, 4, 0]);
    expect(loadDirection(m.delta, m.invStd, signs, norm)).toBeCloseTo(-2 / norm, 12);
    // A loadSign-0 dimension says nothing about demand.
    m.distance2([0, 0, 9]);
    expect(loadDirection(m.delta, m.invStd, signs, norm)).toBe(0);
    expect(loadDirection(m.delta, m.invStd, Float64Array.from([0, 0, 0]), 0)).toBe(0);
  });
});

test("solve(true) after a new factor() gives the bits of solving with the factor the distance was taken with", () => {
  // The engine refactorises at the end of a learning step; the step's dominant dimensions, read
  // later, are of the factor its distance used. Four baselines in turn, each refactorisation
  // writing the buffers the one before last used.
  const n = 7;
  const r = prng(77);
  const opts = { shrinkage: 0.05, stdFloorRel: 1e-6, stdFloorAbs: 1e-6 };
  const baselines = Array.from({ length: 4 }, () => {
    const mean = Float64Array.from({ length: n }, () => 10 * gaussian(r));
    const a = Float64Array.from({ length: n * n }, () => gaussian(r));
    const cov = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) cov[i * n + j] += a[i * n + k] * a[j * n + k];
    return { mean, cov };
  });
  const kept = new Mahalanobis(n, opts);
  const ref = new Mahalanobis(n, opts);
  kept.factor(baselines[0].mean, baselines[0].cov);
  ref.factor(baselines[0].mean, baselines[0].cov);
  for (let round = 0; round < 8; round++) {
    const now = baselines[round % 4];
    const next = baselines[(round + 1) % 4];
    const x = Float64Array.from({ length: n }, (_, j) => now.mean[j] + gaussian(r) * (j + 1));
    if (round === 3) x[2] = -0;
    expect(Object.is(kept.forward2(x), ref.forward2(x))).toBe(true);
    ref.solve();
    kept.factor(next.mean, next.cov);
    kept.solve(true);
    for (let j = 0; j < n; j++) expect(Object.is(kept.solved[j], ref.solved[j])).toBe(true);
    // The new factor is the one forward2() and solve() use from now on.
    ref.factor(next.mean, next.cov);
    expect(Object.is(kept.forward2(x), ref.forward2(x))).toBe(true);
    kept.solve();
    ref.solve();
    for (let j = 0; j < n; j++) expect(Object.is(kept.solved[j], ref.solved[j])).toBe(true);
  }
});

test("factor() from Welford's M2 (scale 1/(W − 1), upper triangle) gives the bits of factor() from covarianceInto, over a long stream", () => {
  // The engine's refactorisation reads M2 in place (src/engine/engine.ts learn). Sizes around the
  // two-column blocks of the factorisation, with shrinkage, per-dimension floors (one dimension
  // constant, so its floor is what is factored), forgetting, and a refactorisation every few
  // samples: every entry of the factor, 1/L_ii, 1/σ and the variances compared as doubles.
  const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    for (let k = 0; k < a.length; k++) if (!Object.is(a[k], b[k])) return false;
    return a.length === b.length;
  };
  let compared = 0;
  for (const n of [1, 2, 3, 5, 8, 9, 16]) {
    const r = prng(900 + n);
    const opts = {
      shrinkage: 0.05,
      stdFloorRel: 1e-6,
      stdFloorAbs: 1e-6,
      dimFloorAbs: Float64Array.from({ length: n }, (_, j) => (j % 3 === 1 ? 0.05 : 0)),
      dimFloorRel: Float64Array.from({ length: n }, (_, j) => (j % 4 === 2 ? 1e-3 : 0)),
    };
    const w = new Welford(n, 8);
    const fromM2 = new Mahalanobis(n, opts);
    const fromCov = new Mahalanobis(n, opts);
    const cov = new Float64Array(n * n);
    for (let i = 0; i < 3000; i++) {
      const x = Float64Array.from({ length: n }, (_, j) => (j === n - 1 && n > 2 ? 7 : 5 * (j + 1) + gaussian(r) * (1 + (j % 4))));
      if (n > 1) x[1] += 0.6 * x[0];
      w.defer(x, i >= 1000 && i < 1500 ? 0.999 : 1);
      if (i % 5 !== 4 || w.weight <= 1) continue;
      w.flush();
      fromM2.factor(w.mean, w.m2, 1 / (w.weight - 1), true);
      fromCov.factor(w.mean, w.covarianceInto(cov));
      if (!sameBits(fromM2.chol, fromCov.chol) || !sameBits(fromM2.invDiag, fromCov.invDiag)) throw new Error(`n=${n}, sample ${i}: the factor differs`);
      if (!sameBits(fromM2.invStd, fromCov.invStd) || !sameBits(fromM2.variance, fromCov.variance)) throw new Error(`n=${n}, sample ${i}: the variances differ`);
      compared++;
    }
  }
  expect(compared).toBe(7 * 600);
});

test("factor()'s variance floors: the larger of each dimension's own floor and the global one, relative to |μ_j| or absolute", () => {
  // Written out as the floors are defined (mahalanobis.ts MahalanobisOptions), against what factor() keeps.
  const n = 6;
  const opts = {
    shrinkage: 0,
    stdFloorRel: 1e-3,
    stdFloorAbs: 0.01,
    dimFloorAbs: Float64Array.from([0, 0.5, 0, 0.002, 0, 0]),
    dimFloorRel: Float64Array.from([0, 0, 0.1, 0, 1e-4, 0]),
  };
  const mean = [100, 100, -100, 0, 1e4, 0];
  const m = new Mahalanobis(n, opts);
  for (const v of [0, 1e-9, 1e-4, 0.3, 50]) {
    const cov = new Float64Array(n * n);
    for (let j = 0; j < n; j++) cov[j * n + j] = v;
    m.factor(mean, cov);
    for (let j = 0; j < n; j++) {
      const fr = Math.max(opts.dimFloorRel[j], opts.stdFloorRel) * Math.abs(mean[j]);
      const fa = Math.max(opts.dimFloorAbs[j], opts.stdFloorAbs);
      const floor = Math.max(fr, fa) ** 2;
      expect(m.variance[j]).toBe(Math.max(v, floor));
      expect(m.invStd[j]).toBe(1 / Math.sqrt(Math.max(v, floor)));
    }
  }
});
