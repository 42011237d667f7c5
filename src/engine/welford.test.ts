import { describe, expect, test } from "bun:test";
import { gaussian, prng } from "../../test/prng.ts";
import { Welford } from "./welford.ts";

/** Two-pass reference: mean first, then Σ(x−μ)(x−μ)ᵀ / (n−1). */
function twoPass(rows: Float64Array[]): { mean: Float64Array; cov: Float64Array } {
  const n = rows[0].length;
  const mean = new Float64Array(n);
  for (const r of rows) for (let j = 0; j < n; j++) mean[j] += r[j];
  for (let j = 0; j < n; j++) mean[j] /= rows.length;
  const cov = new Float64Array(n * n);
  for (const r of rows) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cov[i * n + j] += (r[i] - mean[i]) * (r[j] - mean[j]);
  for (let k = 0; k < n * n; k++) cov[k] /= rows.length - 1;
  return { mean, cov };
}

function correlatedStream(seed: number, count: number, n: number, offset: number): Float64Array[] {
  const r = prng(seed);
  const rows: Float64Array[] = [];
  for (let i = 0; i < count; i++) {
    const x = new Float64Array(n);
    let prev = 0;
    for (let j = 0; j < n; j++) {
      const g = gaussian(r) * (j + 1);
      x[j] = offset * (j + 1) + g + 0.7 * prev;
      prev = g;
    }
    rows.push(x);
  }
  return rows;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number): void {
  expect(a.length).toBe(b.length);
  for (let k = 0; k < a.length; k++) {
    const scale = Math.max(1, Math.abs(b[k]));
    expect(Math.abs(a[k] - b[k]) / scale).toBeLessThan(rel);
  }
}

describe("Welford", () => {
  test("Welford.update() matches two-pass covariance to 1e-9 on a long random stream", () => {
    const rows = correlatedStream(42, 200_000, 6, 3);
    const w = new Welford(6);
    for (const x of rows) w.update(x);
    const ref = twoPass(rows);
    expect(w.weight).toBe(200_000);
    expectClose(w.mean, ref.mean, 1e-9);
    expectClose(w.covariance(), ref.cov, 1e-9);
  });

  test("Welford.update() stays accurate on a large offset (no Σx² − n·μ² cancellation)", () => {
    const rows = correlatedStream(7, 50_000, 4, 1e7);
    const w = new Welford(4);
    for (const x of rows) w.update(x);
    const ref = twoPass(rows);
    expectClose(w.mean, ref.mean, 1e-12);
    // Variances are ~1..16 on values ~1e7: relative to the covariance itself.
    const cov = w.covariance();
    for (let k = 0; k < cov.length; k++) expect(Math.abs(cov[k] - ref.cov[k])).toBeLessThan(1e-6 * Math.max(1, Math.abs(ref.cov[k])));
  });

  test("Welford covariance is exactly symmetric", () => {
    const w = new Welford(5);
    for (const x of correlatedStream(3, 1000, 5, 1)) w.update(x);
    const c = w.covariance();
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(c[i * 5 + j]).toBe(c[j * 5 + i]);
  });

  test("Welford.update(x, decay) equals the exponentially weighted two-pass estimate", () => {
    const rows = correlatedStream(11, 5000, 3, 2);
    const decay = 0.999;
    const w = new Welford(3);
    for (const x of rows) w.update(x, decay);
    // Reference: weight of sample i is decay^(N−1−i).
    const N = rows.length;
    const weights = rows.map((_, i) => decay ** (N - 1 - i));
    const W = weights.reduce((a, b) => a + b, 0);
    const mean = new Float64Array(3);
    rows.forEach((x, i) => {
      for (let j = 0; j < 3; j++) mean[j] += (weights[i] * x[j]) / W;
    });
    const cov = new Float64Array(9);
    rows.forEach((x, i) => {
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) cov[a * 3 + b] += (weights[i] * (x[a] - mean[a]) * (x[b] - mean[b])) / (W - 1);
    });
    expect(Math.abs(w.weight - W) / W).toBeLessThan(1e-12);
    expectClose(w.mean, mean, 1e-9);
    expectClose(w.covariance(), cov, 1e-9);
  });

  test("Welford.fromCovariance() continues exactly where the stored baseline left off", () => {
    const rows = correlatedStream(5, 4000, 3, 1);
    const first = new Welford(3);
    for (const x of rows.slice(0, 2000)) first.update(x);
    const resumed = Welford.fromCovariance(first.mean, first.covariance(), first.weight);
    for (const x of rows.slice(2000)) resumed.update(x);
    const ref = twoPass(rows);
    expectClose(resumed.mean, ref.mean, 1e-9);
    expectClose(resumed.covariance(), ref.cov, 1e-9);
  });

  test("Welford covariance is zero until two samples are in", () => {
    const w = new Welford(2);
    expect(Array.from(w.covariance())).toEqual([0, 0, 0, 0]);
    w.update([1, 2]);
    expect(Array.from(w.covariance())).toEqual([0, 0, 0, 0]);
    w.update([3, 6]);
    expect(Array.from(w.covariance())).toEqual([2, 4, 4, 8]);
  });
  test("Welford.defer() gives update()'s bits: batches, decays, NaN, ±Infinity, −0 and an update() between", () => {
    // Each configuration against update() one sample at a time, m2 and mean compared as doubles
    // (Object.is) after every covarianceInto; sizes around the four-entry blocks, batches of 1..33.
    const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      for (let k = 0; k < a.length; k++) if (!Object.is(a[k], b[k])) return false;
      return a.length === b.length;
    };
    for (const [n, batch] of [
      [1, 1],
      [3, 8],
      [5, 4],
      [8, 8],
      [9, 33],
      [32, 32],
    ]) {
      const rows = correlatedStream(100 + n, 600, n, 3);
      const ref = Welford.fromCovariance(rows[0], new Float64Array(n * n).fill(0.5), 50);
      const def = Welford.fromCovariance(rows[0], new Float64Array(n * n).fill(0.5), 50, batch);
      const cov = new Float64Array(n * n);
      const covRef = new Float64Array(n * n);
      for (let i = 0; i < rows.length; i++) {
        const x = Float64Array.from(rows[i]);
        // −0 and ties (a sample equal to the mean), a span of forgetting, then edge values at the end.
        if (i % 17 === 0) x[i % n] = -0;
        if (i % 23 === 0) x.set(def.mean);
        const decay = i >= 200 && i < 300 ? (i % 3 === 0 ? 1 : 0.999) : 1;
        if (i === 500) x[0] = Infinity;
        if (i === 520) x[n - 1] = NaN;
        if (i === 540) x[0] = -Infinity;
        ref.update(x, decay);
        if (i % 97 === 5) def.update(x, decay); // update() applies what is deferred first
        else def.defer(x, decay);
        expect(sameBits(def.mean, ref.mean)).toBe(true);
        expect(Object.is(def.weight, ref.weight)).toBe(true);
        if (i % 7 === 3 || i === rows.length - 1) {
          expect(sameBits(def.covarianceInto(cov), ref.covarianceInto(covRef))).toBe(true);
          expect(sameBits(def.m2, ref.m2)).toBe(true);
        }
      }
    }
  });
});
