import { describe, expect, test } from "bun:test";
import { gaussian, prng } from "../../test/prng.ts";
import { DeferredRegression, tCritical, WindowRegression } from "./regression.ts";

describe("WindowRegression", () => {
  test("recovers the slope and curvature of an exact quadratic, with standard errors near zero", () => {
    const r = new WindowRegression(1, 8);
    for (let i = 0; i <= 400; i++) {
      const t = 1000 + i * 0.01;
      r.push(t, 3 + 2 * (t - 1000) + 0.5 * (t - 1000) ** 2);
    }
    r.fitCurvature();
    // y' at the window's middle is not asked: the linear fit over [3, 4] s has the chord slope 2 + 0.5·(3 + 4).
    expect(r.slope).toBeCloseTo(2 + 0.5 * 7, 6);
    expect(r.accel).toBeCloseTo(1, 6);
    expect(r.accelSe).toBeLessThan(1e-4);
    expect(r.count).toBe(101);
    expect(r.spanS).toBeCloseTo(1, 9);
  });

  test("the window spans its seconds and at least minSamples: at 60 s steps it keeps 8 samples", () => {
    const r = new WindowRegression(1, 8);
    for (let i = 0; i < 50; i++) r.push(i * 60, i);
    expect(r.count).toBe(8);
    expect(r.slope).toBeCloseTo(1 / 60, 12);
    expect(r.level).toBeCloseTo(49, 9);
  });

  test("the capacity bounds the window; running sums stay exact over many rebases", () => {
    const r = new WindowRegression(1000, 8, 3, 32);
    const g = prng(1);
    for (let i = 0; i < 100_000; i++) r.push(1e6 + i * 0.01, 5 + 0.1 * gaussian(g));
    expect(r.count).toBe(32);
    r.push(1e6 + 1e3, 5);
    expect(Math.abs(r.slope)).toBeLessThan(5 * r.slopeSe);
  });

  test("on pure noise the slope is beyond tCritical(3) standard errors about as rarely as promised", () => {
    const r = new WindowRegression(1, 8);
    const g = prng(2);
    let beyond = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      r.push(i * 0.125, gaussian(g));
      if (i > 10 && r.slope > r.slopeT * r.slopeSe) beyond++;
    }
    // One-sided 3 σ: 0.135 %; the window overlaps, so the rate, not the independence, is checked.
    expect(beyond / n).toBeLessThan(0.004);
    expect(beyond / n).toBeGreaterThan(0.0002);
  });

  test("tCritical() tends to z with many degrees of freedom and grows with few", () => {
    expect(tCritical(3, 1e9)).toBeCloseTo(3, 6);
    expect(tCritical(3, 6)).toBeGreaterThan(4);
    expect(tCritical(3, 0)).toBe(Infinity);
  });

  test("DeferredRegression fits the same bits as WindowRegression, read rarely, in runs or at every push, over many rebases", () => {
    const fields = (r: WindowRegression): number[] => [r.count, r.slope, r.slopeSe, r.level, r.residualStd, r.spanS, r.slopeT];
    // Windows bounded by time (dt 0.01 s, 1 s: 100 samples), by the capacity (1000 s), and by minSamples (60 s steps).
    for (const [windowS, dtS, capacity] of [[1, 0.01, 128], [1000, 0.01, 32], [1, 60, 128], [0.5, 0.013, 16]] as const) {
      const g = prng(7 + capacity);
      const eager = new WindowRegression(windowS, 8, 3, capacity, false);
      const lazy = new DeferredRegression(windowS, 8, 3, capacity, false);
      let t = 5e5;
      let compared = 0;
      for (let i = 0; i < 40_000; i++) {
        // Irregular steps, some repeated times and a ramp now and then.
        t += dtS * (i % 97 === 0 ? 0 : 0.5 + g());
        const y = 0.4 + 0.01 * gaussian(g) + (i % 5000 > 4000 ? (i % 5000) * 1e-4 : 0);
        eager.push(t, y, false);
        lazy.push(t, y, false);
        expect(lazy.count).toBe(eager.count);
        // Read: rarely (gaps longer than two rebases), in runs of every push, and once right after a rebase.
        const read = i % 5000 > 4000 || i % 331 === 0 || i % capacity === 0;
        if (!read) continue;
        eager.refit();
        lazy.refit();
        expect(fields(lazy)).toEqual(fields(eager));
        compared++;
        if (i === 20_000) {
          eager.reset();
          lazy.reset();
        }
      }
      expect(compared).toBeGreaterThan(1000);
    }
  });

  test("DeferredRegression with eagerLine: the slope at every push and the curvature when read, the same bits as WindowRegression's", () => {
    const fields = (r: WindowRegression): number[] => [r.count, r.slope, r.slopeSe, r.level, r.residualStd, r.spanS, r.accel, r.accelSe, r.accelT];
    for (const [windowS, dtS, capacity] of [[1, 0.01, 128], [1000, 0.01, 32], [1, 60, 128], [0.5, 0.013, 16]] as const) {
      const g = prng(11 + capacity);
      const eager = new WindowRegression(windowS, 8, 3, capacity, true);
      const lazy = new DeferredRegression(windowS, 8, 3, capacity, true, true);
      let t = 2e5;
      let curved = 0;
      for (let i = 0; i < 40_000; i++) {
        t += dtS * (i % 89 === 0 ? 0 : 0.5 + g());
        const y = 3 + 0.2 * gaussian(g) + (i % 4000 > 3500 ? ((i % 4000) - 3500) ** 2 * 1e-4 : 0);
        eager.push(t, y);
        lazy.push(t, y);
        // The curvature rarely (gaps longer than two rebases), in runs, and right after a rebase.
        if (i % 4000 > 3500 || i % 397 === 0 || i % capacity === 0) {
          eager.fitCurvature();
          lazy.fitCurvature();
          curved++;
        } else {
          eager.accel = lazy.accel = 0;
        }
        expect(fields(lazy)).toEqual(fields(eager));
        if (i === 20_000) {
          eager.reset();
          lazy.reset();
        }
      }
      expect(curved).toBeGreaterThan(1000);
    }
  });
});
