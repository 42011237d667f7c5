// A level shift without danger becomes a new regime (docs/engine.md §9):
// said once at Level 1, then the alarm ends and the levels judge departures
// from the plateau; the dimensions the shift left at home are still judged
// against the baseline; a ramp or a danger never becomes a regime; μ and Σ
// never move; the window spans time and samples.
import { describe, expect, test } from "bun:test";
import { gaussian, prng } from "../../test/prng.ts";
import { calibrate } from "./calibrate.ts";
import { createEngine, defaultEngineConfig, defaultEngineSettings, engineConfigFrom, step, type EngineConfig } from "./engine.ts";
import { decisionFields } from "./fields.ts";
import type { Decision, DimensionSpec, Sample } from "./types.ts";

const N = 8;
const dims: DimensionSpec[] = Array.from({ length: N }, (_, j) => ({ name: `d${j}`, unit: "1", loadSign: 1 as const }));

/** Independent unit noise; `shift(i)` adds a vector to sample i. */
function stream(count: number, dtS: number, seed: number, shift: (i: number, x: Float64Array) => void, t0 = 0): Sample[] {
  const r = prng(seed);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const x = Float64Array.from({ length: N }, () => gaussian(r));
    shift(i, x);
    out.push({ t: t0 + i * dtS, x });
  }
  return out;
}

function judge(cfg: EngineConfig, dtS: number, test: Sample[]): Decision[] {
  const baseline = calibrate(stream(6000, dtS, 1, () => {}), dims, cfg);
  const e = createEngine(baseline, cfg);
  return test.map((s) => ({ ...step(e, s) }));
}

const judging = { ...defaultEngineConfig(), learn: false };
const at = (ds: Decision[], words: string) => ds.filter((d) => d.reason.includes(words));

describe("a level shift without danger becomes a new regime", () => {
  // 1 h at home, 20 h with d0..d2 6 σ up, a 10-minute event on d6 (home) at
  // hour 12, then home again for 3 h; 1-minute steps.
  const shifted = (i: number) => i >= 60 && i < 1260;
  const plateau = stream(1440, 60, 7, (i, x) => {
    if (shifted(i)) for (const j of [0, 1, 2]) x[j] += 6;
    if (i >= 720 && i < 730) x[6] += 8;
  });

  test("said once at Level 1, then the alarm ends; an event on a dimension left at home still alarms; back home, the regime ends", () => {
    const ds = judge(judging, 60, plateau);
    const first = ds.findIndex((d) => d.level >= 1);
    expect(first).toBeGreaterThanOrEqual(60);
    expect(first).toBeLessThan(66);
    const accepted = at(ds, "new regime");
    expect(accepted.length).toBe(1);
    const a = ds.indexOf(accepted[0]);
    expect(accepted[0].level).toBe(1);
    // The window: an hour of time and 30 samples of alarm, at least.
    expect(ds[a].t - ds[first].t).toBeGreaterThanOrEqual(3600);
    // Quiet on the plateau after it (the hold to Level 0 aside), until the event.
    const quietTo = 719;
    const alarmed = ds.slice(a + 5, quietTo).filter((d) => d.level >= 1).length;
    expect(alarmed).toBe(0);
    expect(ds.slice(a + 5, quietTo).every((d) => d.regimeSinceT === accepted[0].t && d.dmBaseline! > d.thresholds.theta1)).toBe(true);
    // The event on d6: not in the distance to the plateau, but d6 is still judged against the baseline.
    const event = ds.slice(720, 735);
    expect(event.some((d) => d.level >= 1 && d.reason.includes("d6 alone"))).toBe(true);
    // Back home: the regime ends, and so does the alarm.
    const ended = at(ds, "regime since");
    expect(ended.length).toBe(1);
    expect(ds.indexOf(ended[0])).toBeGreaterThanOrEqual(1260);
    expect(ds[ds.length - 1].level).toBe(0);
    expect(Number.isNaN(ds[ds.length - 1].regimeSinceT)).toBe(true);
  });

  test("in the regime, a home dimension that drifts slowly to ζ1 and stays there is followed, not alarmed at every brush; a fast event on it still alarms", () => {
    // On the plateau, d5 drifts by 3 σ over 3 hours (hours 5–8) and stays there; d6's 10-minute event at hour 12 as before.
    const drift = stream(1440, 60, 7, (i, x) => {
      if (shifted(i)) for (const j of [0, 1, 2]) x[j] += 6;
      if (i >= 300) x[5] += 3 * Math.min(1, (i - 300) / 180);
      if (i >= 720 && i < 730) x[6] += 8;
    });
    const episodes = (ds: Decision[], from: number, to: number) => ds.slice(from, to).filter((d, k) => d.level >= 1 && ds[from + k - 1].level === 0).length;
    const follows = judge(judging, 60, drift);
    const fixed = judge({ ...judging, regimeZFollows: false }, 60, drift);
    expect(follows.indexOf(at(follows, "new regime")[0])).toBeLessThan(300);
    expect(episodes(follows, 300, 715)).toBeLessThanOrEqual(1);
    expect(episodes(fixed, 300, 715)).toBeGreaterThanOrEqual(3);
    expect(follows.slice(720, 735).some((d) => d.level >= 1 && d.reason.includes("d6 alone"))).toBe(true);
  });

  test("the log: regime_since_t and d_m_baseline only while a regime holds, so other decisions keep their bytes", () => {
    const ds = judge(judging, 60, plateau);
    const a = ds.indexOf(at(ds, "new regime")[0]);
    const before = decisionFields(ds[a - 1]);
    const inside = decisionFields(ds[a + 10]);
    const after = decisionFields(ds[ds.length - 1]);
    expect("regime_since_t" in before || "d_m_baseline" in before).toBe(false);
    expect(inside.regime_since_t).toBe(ds[a].t);
    expect(inside.d_m_baseline as number).toBeGreaterThan(ds[a].thresholds.theta1);
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(Object.keys(inside).slice(-3)).toEqual(["regime_since_t", "d_m_baseline", "reason"]);
  });

  test("a learning engine does not learn in the regime: μ and Σ never move there", () => {
    const ds = judge(defaultEngineConfig(), 60, plateau);
    const inRegime = ds.filter((d) => d.regimeSinceT === d.regimeSinceT && d.regimeSinceT !== undefined);
    expect(inRegime.length).toBeGreaterThan(500);
    expect(inRegime.some((d) => d.learning)).toBe(false);
  });

  test("a ramp that outruns the plateau's noise over half the window is no regime: the alarm holds", () => {
    const ds = judge(
      judging,
      60,
      stream(1440, 60, 8, (i, x) => {
        if (i >= 60) for (const j of [0, 1, 2]) x[j] += 0.05 * (i - 60);
      }),
    );
    expect(at(ds, "new regime").length).toBe(0);
    const first = ds.findIndex((d) => d.level >= 1);
    expect(ds.slice(first + 60).every((d) => d.level >= 1)).toBe(true);
  });

  test("a danger is no regime", () => {
    const danger = { ttfS: 90, cgroup: "app", resource: "memory", containmentFailing: false, evidence: "test" };
    const ds = judge(
      judging,
      60,
      plateau.slice(0, 600).map((s, i) => (shifted(i) ? { ...s, danger } : s)),
    );
    expect(at(ds, "new regime").length).toBe(0);
  });

  test("the window spans time and samples: 30 samples at 5-minute steps, an hour at 1-minute steps", () => {
    const slow = judge(
      judging,
      300,
      stream(200, 300, 9, (i, x) => {
        if (i >= 20) for (const j of [0, 1, 2]) x[j] += 6;
      }),
    );
    const first = slow.findIndex((d) => d.level >= 1);
    const accepted = at(slow, "new regime");
    expect(accepted.length).toBe(1);
    expect(slow.indexOf(accepted[0]) - first + 1).toBeGreaterThanOrEqual(30);
    expect(slow.indexOf(accepted[0]) - first + 1).toBeLessThan(50);
  });

  test("at 100 ms ticks the window is its hour of time (36000 samples), not 30 samples", () => {
    const fast = judge(
      judging,
      0.1,
      stream(40_000, 0.1, 10, (i, x) => {
        if (i >= 600) for (const j of [0, 1, 2]) x[j] += 6;
      }),
    );
    const first = fast.findIndex((d) => d.level >= 1);
    const accepted = at(fast, "new regime");
    expect(accepted.length).toBe(1);
    expect(accepted[0].t - fast[first].t).toBeGreaterThanOrEqual(3600);
    expect(accepted[0].t - fast[first].t).toBeLessThan(3700);
  });

  test("regime_after_s is checked: ≥ 0 and finite", () => {
    expect(engineConfigFrom({ ...defaultEngineSettings(), regimeAfterS: 0 }).regimeAfterS).toBe(0);
    expect(() => engineConfigFrom({ ...defaultEngineSettings(), regimeAfterS: -1 })).toThrow("regime_after_s must be ≥ 0 (0: off), found -1");
  });

  test("off (regime_after_s = 0): the shift holds the alarm to the end", () => {
    const ds = judge({ ...judging, regimeAfterS: 0 }, 60, plateau.slice(0, 700));
    expect(at(ds, "new regime").length).toBe(0);
    expect(ds[ds.length - 1].level).toBeGreaterThanOrEqual(1);
  });
});
