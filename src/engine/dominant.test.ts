import { describe, expect, test } from "bun:test";
import { gaussian, prng } from "../../test/prng.ts";
import { calibrate } from "./calibrate.ts";
import { createEngine, defaultEngineConfig, snapshotDecision, step } from "./engine.ts";
import type { DimensionSpec } from "./types.ts";

// decision.dominant is computed when read (engine.ts, Engine.dominant). These
// check that reading it late, or not at all, gives what reading it at every
// step gives, and that it is computed with the factor the step's distance
// used, also at the steps where the engine refactorises its covariance.
const N = 6;
const dims: DimensionSpec[] = Array.from({ length: N }, (_, j) => ({ name: `d${j}`, unit: "1", loadSign: 1 }));

function samples(seed: number, count: number, t0: number): { t: number; x: Float64Array }[] {
  const r = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const x = new Float64Array(N);
    for (let j = 0; j < N; j++) x[j] = (j % 2 ? x[j - 1] * 0.8 : 0) + gaussian(r);
    return { t: t0 + i * 0.1, x };
  });
}

describe("the dominant dimensions, computed when read", () => {
  const cfg = defaultEngineConfig();
  const baseline = calibrate(samples(1, 2000, 0), dims, cfg);
  const run = samples(2, 3000, 300);

  test("read at every step, every 7th, or only at the end: the same values", () => {
    const every = createEngine(baseline, cfg);
    const sometimes = createEngine(baseline, cfg);
    const never = createEngine(baseline, cfg);
    let learned = 0;
    let last = "";
    for (const [i, s] of run.entries()) {
      const a = snapshotDecision(step(every, s));
      const b = step(sometimes, s);
      const c = step(never, s);
      if (a.learning) learned++;
      if (i % 7 === 0) expect(JSON.stringify(snapshotDecision(b))).toBe(JSON.stringify(a));
      last = JSON.stringify(a);
      if (i === run.length - 1) expect(JSON.stringify(snapshotDecision(c))).toBe(last);
    }
    // Most steps learned, so the covariance was refactorised hundreds of times in between.
    expect(learned).toBeGreaterThan(run.length / 2);
  });

  test("the shares are those of the distance's own factor, even at a refactorisation", () => {
    const e = createEngine(baseline, cfg);
    // Internals on purpose: δ and Σ'⁻¹δ must give back D_M² of this sample (Σ_j δ_j·y_j = D_M²).
    const maha = (e as unknown as { maha: { delta: Float64Array; solved: Float64Array } }).maha;
    let worst = 0;
    for (const s of run) {
      const d = step(e, s);
      void d.dominant; // the read that fills Σ'⁻¹δ
      let sum = 0;
      for (let j = 0; j < N; j++) sum += maha.delta[j] * maha.solved[j];
      worst = Math.max(worst, Math.abs(sum - d.dmRaw * d.dmRaw) / (d.dmRaw * d.dmRaw));
    }
    // One learned sample moves Σ by about 1/2000: a factor from after the step would be ~1e-4 off.
    expect(worst).toBeLessThan(1e-10);
  });
});
