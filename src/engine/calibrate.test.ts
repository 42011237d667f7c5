import { describe, expect, test } from "bun:test";
import { EXIT, HosaError } from "../errors.ts";
import { gaussian, prng } from "../../test/prng.ts";
import { calibrate, Calibrator, fitTail, tailQuantile } from "./calibrate.ts";
import { createEngine, defaultEngineConfig, step } from "./engine.ts";
import type { DimensionSpec, Sample } from "./types.ts";

const dims = (n: number): DimensionSpec[] => Array.from({ length: n }, (_, j) => ({ name: `d${j}`, unit: "1", loadSign: 1 as const }));

function gaussianSamples(n: number, count: number, seed: number, dtS = 0.1): Sample[] {
  const r = prng(seed);
  return Array.from({ length: count }, (_, i) => ({ t: i * dtS, x: Float64Array.from({ length: n }, () => gaussian(r)) }));
}

function thrown(f: () => unknown): HosaError {
  try {
    f();
  } catch (e) {
    if (e instanceof HosaError) return e;
    throw e;
  }
  throw new Error("expected a HosaError");
}

describe("calibrate", () => {
  test("without smoothing, dmMean and dmStd are those of a χ distribution with n degrees of freedom", () => {
    // E[χ_4] = √2·Γ(5/2)/Γ(2) = 1.87997; Var = 4 − E² = 0.46570.
    const b = calibrate(gaussianSamples(4, 40_000, 2), dims(4), { ...defaultEngineConfig(), ewmaTauS: 0, ewmaMinSamples: 0, shrinkage: 0, dmMedianOf3: false });
    expect(Math.abs(b.dmMean - 1.87997) / 1.87997).toBeLessThan(0.01);
    expect(Math.abs(b.dmStd - Math.sqrt(0.4657)) / Math.sqrt(0.4657)).toBeLessThan(0.02);
  });

  test("smoothing narrows the distance's spread, so thresholds come from the smoothed signal", () => {
    const samples = gaussianSamples(4, 20_000, 3, 0.01);
    const raw = calibrate(samples, dims(4), { ...defaultEngineConfig(), ewmaTauS: 0, ewmaMinSamples: 0 });
    const smooth = calibrate(samples, dims(4), { ...defaultEngineConfig(), ewmaTauS: 0.3 });
    expect(smooth.dmStd).toBeLessThan(raw.dmStd / 3);
  });

  test("the streaming Calibrator equals calibrate(), and copies what it is given", () => {
    const samples = gaussianSamples(3, 3000, 4);
    const cal = new Calibrator(dims(3), defaultEngineConfig());
    const buf = new Float64Array(3);
    for (const s of samples) {
      buf.set(s.x);
      cal.add({ t: s.t, x: buf }); // one reused buffer, as a live source does
      buf.fill(1e9);
    }
    expect(cal.count).toBe(3000);
    expect(JSON.stringify(cal.finish())).toBe(JSON.stringify(calibrate(samples, dims(3), defaultEngineConfig())));
  });

  test("a constant dimension still gives finite, rising thresholds", () => {
    const samples = gaussianSamples(2, 500, 5).map((s) => ({ t: s.t, x: Float64Array.from([s.x[0], 42]) }));
    const b = calibrate(samples, dims(2), defaultEngineConfig());
    for (const v of [b.dmMean, b.dmStd, ...Object.values(b.thresholds)]) expect(Number.isFinite(v)).toBe(true);
    expect(b.thresholds.theta1).toBeLessThan(b.thresholds.theta2);
    const allConstant = calibrate(
      samples.map((s) => ({ t: s.t, x: Float64Array.from([1, 42]) })),
      dims(2),
      defaultEngineConfig(),
    );
    expect(allConstant.dmStd).toBe(defaultEngineConfig().dmStdFloor);
    expect(allConstant.thresholds.theta1).toBeLessThan(allConstant.thresholds.theta4);
  });

  test("θ1..θ4 mean the configured false-alarm rates: the tail quantile at rate·runLength/samplesPerDay, floored and spaced", () => {
    const cfg = defaultEngineConfig();
    const b = calibrate(gaussianSamples(8, 3000, 6), dims(8), cfg);
    const tail = b.dmTail!;
    expect(tail).toBeDefined();
    expect(tail.probability).toBe(30 / 3000);
    expect(b.stepS).toBeCloseTo(0.1, 9);
    const th = [b.thresholds.theta1, b.thresholds.theta2, b.thresholds.theta3, b.thresholds.theta4];
    for (let k = 1; k < 4; k++) expect(th[k] - th[k - 1]).toBeGreaterThanOrEqual(0.5 * b.dmStd - 1e-12);
    // The expected rates it reports are those asked (the floors are below them here); Level 1's is shared by
    // the single-dimension Z and D_M, Z first: its ζ1 sits here on its 3 σ floor, and D_M takes the rest.
    for (let k = 0; k < 4; k++) expect(b.falseAlarmsPerDay![k] / cfg.falseAlarmsPerDay[k]).toBeCloseTo(1, 6);
    expect(b.dimZeta1).toBe(3);
    expect(th[0]).toBeGreaterThan(b.dmMean + 2 * b.dmStd);
    // 300 s of data: supported, but the daily and yearly rates are extrapolated, and it says so.
    expect(b.supported).toBe(true);
    expect(b.warnings!.join("\n")).toContain("θ1, θ2, θ3, θ4: 3000 samples (0.083 h) cannot observe their rates");
    expect(JSON.parse(JSON.stringify(b))).toEqual(b);
  });

  test("a calibration too short or too thin is not supported, and says why", () => {
    const cfg = defaultEngineConfig();
    const short = calibrate(gaussianSamples(8, 200, 7), dims(8), cfg); // 20 s at 100 ms
    expect(short.supported).toBe(false);
    expect(short.warnings).toContain("the calibration spans 20 s, less than 120 s: too short to know this node");
    const thin = calibrate(gaussianSamples(40, 600, 7, 0.3), dims(40), cfg); // 180 s, 600 samples for 40 dimensions
    expect(thin.supported).toBe(false);
    expect(thin.warnings).toContain("600 samples for 40 dimensions: at least 800 (20 per dimension) are needed for a covariance");
  });

  test("thresholds are placed out of sample: a model that overfits its own data (many dimensions, few samples) gets higher θ than in sample", () => {
    const cfg = defaultEngineConfig();
    const b = calibrate(gaussianSamples(30, 1200, 8), dims(30), cfg);
    // In sample the mean squared distance of n dimensions is below n; out of sample above it.
    expect(b.dmMean).toBeGreaterThan(Math.sqrt(30));
  });

  test("fitTail() on exponential data recovers its quantiles; tailQuantile() is the threshold at or above its own probability", () => {
    const r = prng(11);
    const xs = Float64Array.from({ length: 200_000 }, () => -Math.log(r() || 1e-12));
    const tail = fitTail(xs)!;
    expect(tail.probability).toBe(0.01);
    expect(Math.abs(tail.meanExcess - 1)).toBeLessThan(0.05);
    for (const p of [1e-3, 1e-5, 1e-7]) expect(Math.abs(tailQuantile(tail, p) + Math.log(p)) / -Math.log(p)).toBeLessThan(0.03);
    expect(tailQuantile(tail, 0.5)).toBe(tail.threshold);
    // A short calibration has no tail: 20 samples above u are the least a mean excess means anything with.
    expect(fitTail(xs.subarray(0, 39))).toBeUndefined();
    expect(fitTail(new Float64Array(1000).fill(3))).toBeUndefined();
  });

  test("a calibration too short for a tail keeps document 004's formula", () => {
    const b = calibrate(gaussianSamples(3, 30, 7), dims(3), defaultEngineConfig());
    expect(b.dmTail).toBeUndefined();
    expect(b.thresholds.theta1).toBe(b.dmMean + 2 * b.dmStd);
  });

  test("the median of three is applied in calibration exactly as in the engine", () => {
    const samples = gaussianSamples(3, 3000, 8);
    samples[1700].x[0] = 1e6; // one wild sample
    const withFilter = calibrate(samples, dims(3), defaultEngineConfig());
    const without = calibrate(samples, dims(3), { ...defaultEngineConfig(), dmMedianOf3: false });
    // The wild sample reaches the mean and covariance either way, but only the unfiltered smoothed distance jumps.
    expect(without.dmMax!).toBeGreaterThan(10);
    expect(withFilter.dmMax!).toBeLessThan(without.dmMax! / 5);
  });

  // The measured counts, before and after, are in bench/engine-results.md.
  test("an hour of pure noise at 100 ms after a 5-minute calibration: at most one Level 1 episode, never Level 2", () => {
    const cfg = defaultEngineConfig();
    const b = calibrate(gaussianSamples(8, 3000, 6), dims(8), cfg);
    const e = createEngine(b, cfg);
    const r = prng(60);
    let maxLevel = 0;
    let intoLevel1 = 0;
    let atLevel1 = 0;
    const x = new Float64Array(8);
    for (let i = 0; i < 36_000; i++) {
      for (let j = 0; j < 8; j++) x[j] = gaussian(r);
      const d = step(e, { t: 1000 + i * 0.1, x });
      if (d.level > maxLevel) maxLevel = d.level;
      if (d.level === 1) atLevel1++;
      if (d.level === 1 && d.previousLevel === 0) intoLevel1++;
    }
    expect(maxLevel).toBeLessThanOrEqual(1);
    expect(intoLevel1).toBeLessThanOrEqual(1);
    expect(atLevel1 / 36_000).toBeLessThan(0.001);
  });

  test("bad input is refused with one line naming the sample", () => {
    const cfg = defaultEngineConfig();
    const one = new Calibrator(dims(2), cfg);
    one.add({ t: 0, x: Float64Array.from([1, 2]) });
    let e = thrown(() => one.finish());
    expect(e.message).toBe("cannot calibrate: 1 sample, at least 2 are needed");
    expect(e.exitCode).toBe(EXIT.INPUT);
    e = thrown(() => one.add({ t: 1, x: Float64Array.from([1]) }));
    expect(e.message).toBe("cannot calibrate: sample at t=1 has 1 values for 2 dimensions");
    e = thrown(() => one.add({ t: 1, x: Float64Array.from([1, NaN]) }));
    expect(e.message).toBe("cannot calibrate: sample at t=1 has NaN for d1");
    e = thrown(() => one.add({ t: -1, x: Float64Array.from([1, 2]) }));
    expect(e.message).toBe("cannot calibrate: time goes backwards at t=-1 after t=0");
    e = thrown(() => new Calibrator([], cfg));
    expect(e.message).toBe("cannot calibrate: no dimensions");
  });
});

describe("the single-dimension statistic and per-block thresholds (docs/engine.md §4–5)", () => {
  // 38 independent N(0,1) dimensions at 1-minute steps, as SMD's machines: 6000 samples (≈ 4 days).
  const N = 38;
  const cal = () => gaussianSamples(N, 6000, 21, 60);

  /** Judge 3 h of fresh noise with one dimension shifted by `shift` σ from minute 60 on; the first Level ≥ 1 decision after it. */
  function judgeShift(cfg: ReturnType<typeof defaultEngineConfig>, shift: number) {
    const e = createEngine(calibrate(cal(), dims(N), cfg), cfg);
    const r = prng(22);
    let first: { minute: number; reason: string } | null = null;
    let before = 0;
    for (let i = 0; i < 180; i++) {
      const x = Float64Array.from({ length: N }, () => gaussian(r));
      if (i >= 60) x[7] += shift;
      const d = step(e, { t: 1e6 + i * 60, x });
      if (i < 60 && d.level > 0) before++;
      if (i >= 60 && d.level >= 1 && !first) first = { minute: i - 60, reason: d.reason };
    }
    return { first, before };
  }

  test("a 4 σ shift of one dimension among 38 is seen by Z within 6 minutes (and named); D_M alone takes twice as long", () => {
    const withZ = judgeShift(defaultEngineConfig(), 4);
    expect(withZ.before).toBe(0);
    expect(withZ.first).not.toBeNull();
    expect(withZ.first!.minute).toBeLessThanOrEqual(6);
    expect(withZ.first!.reason).toContain("d7 alone");
    const dmOnly = judgeShift({ ...defaultEngineConfig(), dimSurprise: false }, 4);
    expect(dmOnly.before).toBe(0);
    expect(dmOnly.first === null || dmOnly.first.minute >= 2 * withZ.first!.minute).toBe(true);
  });

  test("ζ1 is placed out of sample at its share of Level 1's rate and carried by the baseline; one dimension has none", () => {
    const b = calibrate(cal(), dims(N), defaultEngineConfig());
    // Smoothed over ≥ 3 samples, 38 independent z's rarely pass 2: ζ1 sits on its 3 σ floor.
    expect(b.dimZeta1).toBe(3);
    expect(calibrate(gaussianSamples(1, 3000, 3), dims(1), defaultEngineConfig()).dimZeta1).toBeUndefined();
    expect(calibrate(cal(), dims(N), { ...defaultEngineConfig(), dimSurprise: false }).dimZeta1).toBeUndefined();
  });

  test("a short event of large magnitude: one 1-minute sample far out is Level 1 on its own, one within the noise's reach is not (docs/engine.md §10)", () => {
    const cfg = defaultEngineConfig();
    const b = calibrate(cal(), dims(N), cfg);
    // θ1s is placed on the held-out raw distance, never below θ4.
    expect(b.dmSpike1).toBeGreaterThanOrEqual(b.thresholds.theta4);
    const blip = (sigma: number, c = cfg) => {
      const e = createEngine(b, c);
      const r = prng(26);
      let max = 0;
      let reason = "";
      let last = 0;
      for (let i = 0; i < 120; i++) {
        const x = Float64Array.from({ length: N }, () => gaussian(r));
        if (i === 60) x[3] += sigma;
        const d = step(e, { t: 1e6 + i * 60, x });
        if (d.level > max) reason = d.reason;
        max = Math.max(max, d.level);
        last = d.level;
      }
      return { max, reason, last };
    };
    // One sample of one dimension 40 σ out (D_M ≈ 40 against a noise of ≈ 6): one minute, a blip the median hides.
    const big = blip(40);
    expect(big.max).toBe(1);
    expect(big.reason).toContain("one sample of D_M");
    expect(big.last).toBe(0);
    expect(blip(40, { ...cfg, spikeRateShare: 0 }).max).toBe(0);
    // 6 σ on one dimension is within what 38 noisy dimensions reach in raw D_M: nothing.
    expect(blip(6).max).toBe(0);
  });

  test("a dimension constant in calibration: one sample off is Level 1 at most (the spike path) and ends with its hold; three in a row are an event for the smoothed paths", () => {
    const cfg = defaultEngineConfig();
    const samples = gaussianSamples(8, 3000, 23);
    for (const s of samples) s.x[5] = 0;
    const b = calibrate(samples, dims(8), cfg);
    const run = (offSamples: number, c = cfg) => {
      const e = createEngine(b, c);
      const r = prng(24);
      let max = 0;
      let last = 0;
      let reason = "";
      for (let i = 0; i < 400; i++) {
        const x = Float64Array.from({ length: 8 }, () => gaussian(r));
        x[5] = i >= 100 && i < 100 + offSamples ? 1 : 0;
        const d = step(e, { t: 1000 + i * 0.1, x });
        if (d.level > max) reason = d.reason;
        max = Math.max(max, d.level);
        last = d.level;
      }
      return { max, last, reason };
    };
    // One sample a million σ out is a short event of large magnitude: vigilance, no more, and it ends.
    const one = run(1);
    expect(one.max).toBe(1);
    expect(one.reason).toContain("one sample of D_M");
    expect(one.last).toBe(0);
    // Without the spike path the median of three filters it: the smoothed paths never see one sample.
    expect(run(1, { ...cfg, spikeRateShare: 0 }).max).toBe(0);
    expect(run(3, { ...cfg, spikeRateShare: 0 }).max).toBeGreaterThanOrEqual(1);
  });

  test("per-block thresholds: an incident in 2 of 10 held-out blocks does not lift θ1 as it lifts the pooled tail", () => {
    // 10 blocks of 2000 samples; blocks 3 and 7 hold a 5 σ shift of two dimensions through half their length.
    const samples = gaussianSamples(8, 20_000, 25, 60);
    for (const blk of [3, 7]) for (let i = blk * 2000; i < blk * 2000 + 1000; i++) {
      samples[i].x[0] += 5;
      samples[i].x[1] += 5;
    }
    const clean = calibrate(gaussianSamples(8, 20_000, 25, 60), dims(8), defaultEngineConfig());
    const byBlock = calibrate(samples, dims(8), defaultEngineConfig());
    const pooled = calibrate(samples, dims(8), { ...defaultEngineConfig(), thresholdsByBlock: false });
    expect(pooled.thresholds.theta1).toBeGreaterThan(1.25 * clean.thresholds.theta1);
    expect(byBlock.thresholds.theta1).toBeLessThan(1.1 * clean.thresholds.theta1);
  });

  test("held out forward (tried, off): a drifting mean lifts θ1 as a model of the past meets it; on stationary data it changes little; heldOut keeps what placed θ", () => {
    // 10 blocks of 2000 one-minute samples; two of 4 dimensions drift by 4 σ over the calibration.
    const drift = gaussianSamples(4, 20_000, 31, 60);
    for (let i = 0; i < drift.length; i++) {
      drift[i].x[0] += (4 * i) / drift.length;
      drift[i].x[1] -= (4 * i) / drift.length;
    }
    const forward = { ...defaultEngineConfig(), heldOutOrder: "forward" as const };
    const cal = new Calibrator(dims(4), forward);
    for (const s of drift) cal.add(s);
    const fwd = cal.finish();
    const inter = calibrate(drift, dims(4), defaultEngineConfig());
    // Interleaved blocks are judged by a model whose covariance holds the drift (θ1 2.65, as without
    // drift: 2.69); a model of the past lags it (3.05; the second half by the first half's: 3.90).
    expect(fwd.thresholds.theta1).toBeGreaterThan(1.1 * inter.thresholds.theta1);
    expect(calibrate(drift, dims(4), { ...defaultEngineConfig(), heldOutOrder: "half" }).thresholds.theta1).toBeGreaterThan(1.3 * inter.thresholds.theta1);
    // The first block has no past: it places nothing.
    expect(cal.heldOut?.smoothed.length).toBe(18_000);
    expect(cal.heldOut?.cuts.length).toBe(9);
    const still = gaussianSamples(4, 20_000, 32, 60);
    const ratio = calibrate(still, dims(4), forward).thresholds.theta1 / calibrate(still, dims(4), defaultEngineConfig()).thresholds.theta1;
    expect(Math.abs(ratio - 1)).toBeLessThan(0.05);
  });
});
