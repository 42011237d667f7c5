import { expect, test } from "bun:test";
import { gaussian, prng } from "../../test/prng.ts";
import { loadDirection } from "./contributions.ts";
import { AlphaMemo } from "./ewma.ts";
import { Mahalanobis } from "./mahalanobis.ts";
import { DimSurprise } from "./surprise.ts";

/** Every element the same double (−0 and NaN included). */
function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) return false;
  return true;
}

// The engine's one pass over the dimensions must give what the separate
// passes gave, bit for bit: δ as Mahalanobis.forward2 leaves it, z̄ and Z as
// update(), φ's sum as loadDirection, the propagation index as the engine's
// loop over its propagation dimensions, and whether x was finite.
test("the median of three in pass() picks the middle value of every order, ties included", () => {
  // Each of the 27 orders of three values from {0, 1, 2}, through pass() against the sorted middle.
  const z = new DimSurprise(1, 0.3, 0, true);
  const delta = new Float64Array(1);
  const one = Float64Array.of(1);
  const zero = Float64Array.of(0);
  for (let a = 0; a < 3; a++)
    for (let b = 0; b < 3; b++)
      for (let c = 0; c < 3; c++) {
        const s = new DimSurprise(1, 0, 0, true);
        // τ = 0: z̄ is the median itself. The first stamp only starts the clock.
        s.pass(0, Float64Array.of(9), zero, delta, one, one, Uint8Array.of(0), true);
        s.pass(1, Float64Array.of(a), zero, delta, one, one, Uint8Array.of(0), true);
        s.pass(2, Float64Array.of(b), zero, delta, one, one, Uint8Array.of(0), true);
        s.pass(3, Float64Array.of(c), zero, delta, one, one, Uint8Array.of(0), true);
        expect(s.smoothed[0]).toBe([a, b, c].sort()[1]);
      }
  expect(z.value).toBe(0);
});

test("pass() gives the bits of forward2's δ, update(), loadDirection and the propagation loop, in every case of x", () => {
  for (const [n, medianOf3] of [
    [1, true],
    [3, false],
    [8, true],
    [33, true],
  ] as const) {
    const r = prng(40 + n);
    const mean = Float64Array.from({ length: n }, (_, j) => (j % 4 === 3 ? 0 : 10 * gaussian(r)));
    const cov = new Float64Array(n * n);
    for (let j = 0; j < n; j++) cov[j * n + j] = 0.5 + r();
    // Correlated dimensions, so that the forward substitution's rows have terms: Σ = diag + B Bᵀ / n.
    const b = Float64Array.from({ length: n * n }, () => gaussian(r));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) cov[i * n + j] += (b[i * n + k] * b[j * n + k]) / n;
    const maha = new Mahalanobis(n, { shrinkage: 0.05, stdFloorRel: 1e-6, stdFloorAbs: 1e-6 });
    maha.factor(mean, cov);
    const signs = Float64Array.from({ length: n }, (_, j) => [1, -1, 0][j % 3]);
    const signNorm = Math.sqrt(signs.reduce((a, s) => a + s * s, 0));
    const prop = Uint8Array.from({ length: n }, (_, j) => (j % 5 === 1 ? 1 : 0));
    const sep = new DimSurprise(n, 0.3, 3, medianOf3, new AlphaMemo(0.3, 3));
    const fused = new DimSurprise(n, 0.3, 3, medianOf3, new AlphaMemo(0.3, 3));
    const delta = new Float64Array(n);
    const u = new Float64Array(n);
    let t = 100;
    let icpDim = 0;
    for (let i = 0; i < 3000; i++) {
      const x = Float64Array.from({ length: n }, (_, j) => mean[j] + gaussian(r) * (i % 50 < 5 ? 8 : 1));
      if (i % 97 === 3) x[i % n] = NaN;
      if (i % 89 === 5) x[(i + 1) % n] = -Infinity;
      if (i % 83 === 7) x[(i + 2) % n] = 1e308;
      if (i % 71 === 9) x[(i * 7) % n] = mean[(i * 7) % n] === 0 ? -0 : mean[(i * 7) % n];
      // Ties: a stretch of a coarse, quantised signal (equal z in a row, and equal to their neighbours).
      if (i % 400 < 60) for (let j = 0; j < n; j++) x[j] = mean[j] + Math.round(gaussian(r) * 0.7);
      if (i % 13 !== 0) t += i % 7 === 0 ? 0 : 0.1 + (r() - 0.5) * 1e-3; // repeated stamps, a jittery clock
      // Separately, as the engine did.
      const d2 = maha.forward2(x);
      const d = maha.delta;
      sep.update(t, d, maha.invStd);
      const phi = loadDirection(d, maha.invStd, signs, signNorm);
      let icp = 0;
      for (let j = 0; j < n; j++) {
        const zj = d[j] * maha.invStd[j];
        if (prop[j] !== 0 && zj > icp) {
          icp = zj;
          icpDim = j;
        }
      }
      let finite = true;
      for (let j = 0; j < n; j++) if (!(x[j] - x[j] === 0)) finite = false;
      // In one pass.
      fused.pass(t, x, maha.mean, delta, maha.invStd, signs, prop, true, maha.chol, maha.invDiag, u);
      expect(sameBits(delta, d)).toBe(true);
      // The forward substitution in the pass: L⁻¹δ and D_M² as forward2's.
      expect(sameBits(u, maha.work)).toBe(true);
      expect(Object.is(fused.d2, d2)).toBe(true);
      expect(sameBits(fused.smoothed, sep.smoothed)).toBe(true);
      expect([fused.value, fused.dim]).toEqual([sep.value, sep.dim]);
      // φ as the engine makes it from the pass's sum.
      expect(Object.is(signNorm === 0 ? 0 : fused.phiSum / signNorm, phi)).toBe(true);
      expect([fused.icp, fused.icpDim, fused.finite]).toEqual([icp, icpDim, finite]);
    }
  }
});

test("pass() without judging leaves Z alone and still gives δ, φ and the propagation index", () => {
  const z = new DimSurprise(2, 0.3, 3, true);
  const delta = new Float64Array(2);
  z.pass(1, Float64Array.of(3, 5), Float64Array.of(1, 1), delta, Float64Array.of(0.5, 2), Float64Array.of(1, 1), Uint8Array.of(0, 1), false);
  z.pass(2, Float64Array.of(3, 5), Float64Array.of(1, 1), delta, Float64Array.of(0.5, 2), Float64Array.of(1, 1), Uint8Array.of(0, 1), false);
  expect([...delta]).toEqual([2, 4]);
  expect([z.value, ...z.smoothed]).toEqual([0, 0, 0]);
  expect([z.phiSum, z.icp, z.icpDim, z.finite]).toEqual([9, 8, 1, true]);
});

test("Z is the largest |z̄_j| within an ulp of the comparisons', names the first of the largest, and skips a z̄_j gone NaN", () => {
  const n = 6;
  const one = new Float64Array(n).fill(1);
  const zero = new Float64Array(n);
  const delta = new Float64Array(n);
  const signs = new Float64Array(n);
  const prop = new Uint8Array(n);
  const g = prng(21);
  const byComparison = (zs: Float64Array): number => {
    let best = 0;
    for (const v of zs) if (Math.abs(v) > best) best = Math.abs(v);
    return best;
  };
  for (const medianOf3 of [true, false]) {
    const z = new DimSurprise(n, 0.3, 3, medianOf3);
    for (let i = 0; i < 3000; i++) {
      const x = Float64Array.from({ length: n }, () => 3 * gaussian(g));
      if (i % 50 === 7) x[i % n] = x[(i + 1) % n]; // ties
      z.pass(i * 0.01, x, zero, delta, one, signs, prop, true);
      const exact = byComparison(z.smoothed);
      expect(Math.abs(z.value - exact)).toBeLessThanOrEqual(Number.EPSILON * exact);
      const j = z.dim;
      expect(Math.abs(z.smoothed[j])).toBe(exact);
      for (let k = 0; k < j; k++) expect(Math.abs(z.smoothed[k])).toBeLessThan(exact);
    }
    // A z̄_j gone NaN (it stays so: NaN + α·(z − NaN)) is skipped, as the comparisons skip it.
    z.smoothed[2] = NaN;
    z.smoothed[4] = 50;
    z.pass(30.01, new Float64Array(n), zero, delta, one, signs, prop, true);
    expect(z.value).toBe(byComparison(z.smoothed));
    expect(z.value).toBeGreaterThan(40);
    expect(z.dim).toBe(4);
  }
});
