import { describe, expect, test } from "bun:test";
import { defaultConfig } from "../config.ts";
import { EXIT, HosaError } from "../errors.ts";
import { gaussian, prng } from "../../test/prng.ts";
import {
  createEngine,
  currentLevel,
  defaultEngineConfig,
  engineConfigFrom,
  releaseQuarantine,
  snapshotDecision,
  step,
  type EngineConfig,
  type EngineState,
} from "./engine.ts";
import type { Baseline, Decision, DimensionSpec, Level } from "./types.ts";

// With one dimension of mean 0 and variance 1, D_M = |x|; with τ = 0 the
// smoothed D̄_M is D_M itself and its derivatives are exact finite
// differences, so every condition of the level machine can be driven
// exactly. Times are on a 1/8 s grid (exact in binary floating point).
const TH = { theta1: 2, theta2: 3, theta3: 4, theta4: 5 };
const DT = 0.125;
const EPS = 1e-3;

function baselineOf(dims: DimensionSpec[], mean: number[], variances: number[]): Baseline {
  const n = dims.length;
  const covariance = new Array(n * n).fill(0);
  for (let j = 0; j < n; j++) covariance[j * n + j] = variances[j];
  return { version: 1, dims, count: 1e6, mean, covariance, dmMean: 1, dmStd: 1, thresholds: { ...TH } };
}

const LOAD: DimensionSpec = { name: "load", unit: "1", loadSign: 1 };

// The document's bare rules: no spike filter, no dwell, no hold grace. The
// guards against false alarms have their own tests below, each turned on alone.
function exactConfig(over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    ...defaultEngineConfig(),
    ewmaTauS: 0,
    ttfTauS: 0,
    refactorEvery: Infinity,
    dmMedianOf3: false,
    escalateAfterS: [0, 0, 0, 0, 0],
    holdGraceS: 0,
    ...over,
  };
}

/** Drives a one-dimensional engine with D_M values. */
class Drive {
  readonly state: EngineState;
  t = 0;
  last!: Decision;
  readonly changes: { t: number; from: Level; to: Level; reason: string }[] = [];
  constructor(over: Partial<EngineConfig> = {}, baseline = baselineOf([LOAD], [0], [1])) {
    this.state = createEngine(baseline, exactConfig(over));
    this.at(0, ...baseline.mean); // the primed first sample: D̄_M starts at dmMean = 1
  }
  at(t: number, ...x: number[]): Decision {
    this.t = t;
    const d = step(this.state, { t, x: Float64Array.from(x) });
    if (d.level !== d.previousLevel) this.changes.push({ t, from: d.previousLevel, to: d.level, reason: d.reason });
    this.last = snapshotDecision(d);
    return this.last;
  }
  /** Hold x from the next grid point through `until`, inclusive. */
  hold(until: number, ...x: number[]): Decision {
    for (let t = this.t + DT; t <= until + 1e-12; t += DT) this.at(Math.round(t / DT) * DT, ...x);
    return this.last;
  }
  level(): Level {
    return currentLevel(this.state);
  }
}

/** Reach a level on the grid by t = 1 (or just after); D̄_M left at `dm`. */
function reach(level: Level, over: Partial<EngineConfig> = {}): Drive {
  const d = new Drive(over);
  d.hold(1, 1);
  if (level === 1) d.at(1.125, 2.5);
  if (level === 2) d.at(1.125, 3.5);
  if (level === 3) {
    d.at(1.125, 3.5);
    // Accelerating: +0.25, then +0.75 per step.
    d.at(1.25, 3.75);
    d.at(1.375, 4.5);
  }
  if (level === 4) d.at(1.125, 6);
  expect(d.level()).toBe(level);
  return d;
}

describe("escalation", () => {
  test("L0 → L1 when D̄_M > θ1", () => {
    const d = new Drive();
    d.hold(1, 1.9);
    expect(d.last.level).toBe(0);
    const x = d.at(1.125, 2.5);
    expect(x.level).toBe(1);
    expect(x.previousLevel).toBe(0);
    expect(x.levelName).toBe("VIGILANCE");
    expect(x.reason).toBe("Level 0 → 1: D_M 2.50 > θ1 2.00");
  });

  test("L0 → L1 on a sustained rise below θ1, at exactly sustainS and dmStd of rise", () => {
    const d = new Drive({ sustainS: 2, sustainRiseSigmas: 1 });
    d.hold(1, 0.5);
    // +0.0625 per 1/8 s = 0.5 /s; the rise starts at t = 1.125 (D_M 0.5625).
    for (let t = 1.125; t < 3.125; t += DT) expect(d.at(t, 0.5 + (t - 1) * 0.5).level).toBe(0);
    const x = d.at(3.125, 0.5 + 2.125 * 0.5);
    expect(x.dm).toBeLessThan(TH.theta1);
    expect(x.level).toBe(1);
    expect(x.reason).toStartWith("Level 0 → 1: D_M rising for 2.00 s");
  });

  test("a long but small rise (below sustainRiseSigmas·dmStd) stays in homeostasis", () => {
    const d = new Drive();
    d.hold(1, 0.5);
    for (let t = 1.125; t <= 20; t += DT) expect(d.at(t, 0.5 + (t - 1) * 0.01).level).toBe(0);
  });

  test("L1 → L2 when D̄_M > θ2 and dD̄_M/dt > 0", () => {
    const d = reach(1);
    d.hold(2, 2.5);
    const x = d.at(2.125, 3.25);
    expect(x.level).toBe(2);
    expect(x.reason).toBe("Level 1 → 2: D_M 3.25 > θ2 3.00 and derivative +6.00/s > 0");
  });

  test("L2 → L3 when D̄_M > θ3 and d²D̄_M/dt² > 0", () => {
    const d = reach(2);
    d.hold(2, 3.5);
    d.at(2.125, 3.625); // d1 = +1/s, d2 = +8/s², still under θ3
    expect(d.last.level).toBe(2);
    const x = d.at(2.25, 4.25); // d1 = +5/s, d2 = +32/s²
    expect(x.level).toBe(3);
    expect(x.reason).toBe("Level 2 → 3: D_M 4.25 > θ3 4.00 and acceleration +32.00/s² > 0");
  });

  test("crossing θ3 at constant speed (no acceleration) is not Level 3; θ4 then jumps 2 → 4", () => {
    const d = reach(2);
    d.hold(2, 3.5);
    // Ramp +0.125 per step = 1 /s; after the first ramp sample d2 = 0 exactly.
    let t = 2;
    let dm = 3.5;
    while (dm < 4.875) {
      t += DT;
      dm += 0.125;
      d.at(t, dm);
      expect(d.last.level).toBe(2);
    }
    expect(d.last.dm).toBeGreaterThan(TH.theta3);
    expect(d.at(t + DT, dm + 0.125).level).toBe(2); // D_M 5.00 is not above θ4 5.00
    const x = d.at(t + 2 * DT, dm + 0.375);
    expect(x.level).toBe(4);
    expect(x.reason).toBe("Level 2 → 4: D_M 5.25 > θ4 5.00");
  });

  test("L3 → L4 when D̄_M > θ4", () => {
    const d = reach(3);
    expect(d.at(1.5, 4.5).level).toBe(3);
    const x = d.at(1.625, 5.5);
    expect(x.level).toBe(4);
    expect(x.reason).toBe("Level 3 → 4: D_M 5.50 > θ4 5.00");
  });

  test("L3 → L5 when D̄_M keeps rising at Level 3 for quarantineAfterS", () => {
    const d = reach(3, { quarantineAfterS: 30 });
    // Rising slowly inside Level 3's band (θ3 < D̄_M < θ4), without acceleration after the first step.
    let dm = 4.5;
    for (let t = 1.5; t < 31.5; t += DT) expect(d.at(t, (dm += 0.001)).level).toBe(3);
    const x = d.at(31.5, dm + 0.001);
    expect(x.level).toBe(5);
    expect(x.reason).toStartWith("Level 3 → 5: D_M 4.74 still rising (+0.01/s) for 30.00 s at Level 3");
  });

  test("one violent sample jumps 0 → 4 at once", () => {
    const d = new Drive();
    d.hold(1, 1);
    const x = d.at(1.125, 6);
    expect(x.level).toBe(4);
    expect(x.previousLevel).toBe(0);
    expect(x.reason).toBe("Level 0 → 4: D_M 6.00 > θ4 5.00");
    expect(x.regime).toBe(4);
  });

  test("L4 when time-to-failure < ttfCriticalS while off baseline; TTF alone in homeostasis is not enough", () => {
    const mem: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    // mem has a huge variance so it adds nothing to D_M: the test drives TTF alone.
    const b = baselineOf([LOAD, mem], [0, 0.5], [1, 1e8]);
    const d = new Drive({ ttfCriticalS: 30, ttfMinSigmas: 0 }, b);
    // 0.02 /s toward 1 from 0.5: TTF 25 s < 30 s, but D_M ≤ θ1.
    for (let t = DT; t <= 2; t += DT) d.at(t, 1, 0.5 + 0.02 * t);
    expect(d.last.ttfDim).toBe("mem_used_ratio");
    expect(d.last.ttfS).toBeCloseTo((1 - (0.5 + 0.02 * 2)) / 0.02, 6);
    expect(d.last.ttfS).toBeLessThan(30);
    expect(d.last.level).toBe(0);
    const x = d.at(2.125, 2.5, 0.5 + 0.02 * 2.125);
    expect(x.level).toBe(4);
    expect(x.reason).toMatch(/^Level 0 → 4: time to failure of mem_used_ratio 22\.\d\d s < 30\.00 s and D_M 2\.50 > θ1 2\.00$/);
  });

  test("TTF is Infinity when not heading to capacity, and 0 past it; free memory falls toward 0", () => {
    const used: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    const free: DimensionSpec = { name: "mem_free_bytes", unit: "bytes", loadSign: -1, capacity: 0 };
    const b = baselineOf([used, free], [0.5, 8e9], [1e8, 1e30]);
    const d = new Drive({ ttfMinSigmas: 0 }, b);
    d.at(1, 0.5, 8e9);
    d.at(2, 0.4, 8e9);
    expect(d.last.ttfS).toBe(Infinity);
    expect(d.last.ttfDim).toBe(null);
    d.at(3, 0.4, 7e9); // −1e9 B/s toward 0: 7 s
    expect(d.last.ttfS).toBe(7);
    expect(d.last.ttfDim).toBe("mem_free_bytes");
    d.at(4, 1.01, 7e9);
    expect(d.last.ttfS).toBe(0);
    expect(d.last.ttfDim).toBe("mem_used_ratio");
  });

  test("a slope within the dimension's normal range is not a time-to-failure", () => {
    const mem: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    const b = baselineOf([LOAD, mem], [0, 0.5], [1, 0.01]); // σ = 0.1
    const d = new Drive({ ttfMinSigmas: 3 }, b);
    d.at(1, 0, 0.5);
    d.at(2, 0, 0.7); // 2 σ up, +0.2 /s: heading to 1 in 1.5 s, but within the normal range
    expect(d.last.ttfS).toBe(Infinity);
    d.at(3, 0, 0.81); // 3.1 σ up, +0.11 /s
    expect(d.last.ttfDim).toBe("mem_used_ratio");
    expect(d.last.ttfS).toBeCloseTo(0.19 / 0.11, 9);
  });

  test("L5 when D̄_M keeps rising at Level 3–4 for quarantineAfterS (boundary exact)", () => {
    const d = reach(4, { quarantineAfterS: 60 });
    // Rising from t = 1.25 on (the first sample judged at Level 4 with d1 > 0).
    let dm = 6;
    for (let t = 1.25; t < 61.25; t += DT) {
      dm += 0.001;
      expect(d.at(t, dm).level).toBe(4);
    }
    const x = d.at(61.25, dm + 0.001);
    expect(x.level).toBe(5);
    expect(x.levelName).toBe("QUARANTINE");
    expect(x.reason).toMatch(/^Level 4 → 5: D_M 6\.48 still rising \(\+0\.01\/s\) for 60\.00 s at Level 4 despite containment$/);
  });

  test("a pause in the rise restarts the Level 5 clock", () => {
    const d = reach(4, { quarantineAfterS: 60 });
    let dm = 6;
    for (let t = 1.25; t <= 40; t += DT) d.at(t, (dm += 0.001));
    d.at(40.125, dm); // flat: derivative 0
    for (let t = 40.25; t < 100.25; t += DT) expect(d.at(t, (dm += 0.001)).level).toBe(4);
    expect(d.at(100.25, (dm += 0.001)).level).toBe(5);
  });

  test("L5 when the propagation index exceeds icpCritical, from any level", () => {
    const forks: DimensionSpec = { name: "forks_per_s", unit: "1/s", loadSign: 1, propagation: true };
    const b = baselineOf([LOAD, forks], [0, 10], [1, 1e6]);
    const d = new Drive({ icpCritical: 10 }, b);
    // 9.99 σ of forks: far off baseline (Level 4), not yet spreading.
    expect(d.at(1, 1, 10 + 9990).level).toBe(4);
    const x = d.at(2, 1, 10 + 10010);
    expect(x.level).toBe(5);
    expect(x.regime).toBe(5);
    expect(x.reason).toBe("Level 4 → 5: propagation index 10.01 σ > 10.00 on forks_per_s");
    // Straight from homeostasis too.
    const h = new Drive({ icpCritical: 3 }, b);
    h.hold(1, 0.5, 10);
    expect(h.at(1.125, 0.5, 10 + 3010).level).toBe(5);
  });
});

describe("de-escalation", () => {
  const cases: { from: Level; below: number; holdS: number; name: string }[] = [
    { from: 1, below: 1.5, holdS: 10, name: "θ1" },
    { from: 2, below: 1.5, holdS: 30, name: "θ1" },
    { from: 3, below: 2.5, holdS: 60, name: "θ2" },
    { from: 4, below: 3.5, holdS: 300, name: "θ3" },
  ];
  for (const c of cases) {
    test(`L${c.from} → L${c.from - 1} after D̄_M < ${c.name} for ${c.holdS} s: not at hold − ε, yes at hold + ε`, () => {
      const d = reach(c.from);
      const t0 = 2;
      const start = d.at(t0, c.below);
      expect(start.level).toBe(c.from);
      expect(start.reason).toBe(`Level ${c.from} → ${c.from - 1} waits: D_M ${c.below.toFixed(2)} < ${c.name} ${(c.from <= 2 ? 2 : c.from - 1).toFixed(2)} since t=${t0}, hold ${c.holdS} s`.replace(
          `${c.name} ${(c.from <= 2 ? 2 : c.from - 1).toFixed(2)}`,
          `${c.name} ${[0, 2, 2, 3, 4][c.from].toFixed(2)}`,
        ),
      );
      d.hold(t0 + c.holdS - 1, c.below);
      expect(d.at(t0 + c.holdS - EPS, c.below).level).toBe(c.from);
      expect(d.last.reason).toBe(start.reason);
      const x = d.at(t0 + c.holdS + EPS, c.below);
      expect(x.level as number).toBe(c.from - 1);
      expect(x.previousLevel).toBe(c.from);
      expect(x.reason).toStartWith(`Level ${c.from} → ${c.from - 1}: D_M ${c.below.toFixed(2)} < ${c.name}`);
    });

    test(`L${c.from} stays in its dead zone indefinitely`, () => {
      const d = reach(c.from);
      // Between the de-escalation threshold and the level's own: D̄_M flat.
      const dead = [0, 2.5, 2.5, 3.5, 4.5][c.from];
      d.at(2, dead);
      d.hold(2000, dead);
      expect(d.level()).toBe(c.from);
      expect(d.changes.filter((ch) => ch.t >= 2)).toEqual([]);
    });
  }

  test("de-escalation is step by step, with a fresh hold at each level: 4 → 3 → 2 → 1 → 0", () => {
    const d = reach(4);
    d.at(2, 0.5);
    d.hold(2 + 300 + 60 + 30 + 10 + 5, 0.5);
    expect(d.changes.map((c) => [c.t, c.from, c.to])).toEqual([
      [1.125, 0, 4],
      [302, 4, 3],
      [362, 3, 2],
      [392, 2, 1],
      [402, 1, 0],
    ]);
  });

  test("going back above the de-escalation threshold resets the hold", () => {
    const d = reach(1);
    d.at(2, 1.5);
    d.hold(7, 1.5);
    const reset = d.at(7.125, 2.25);
    expect(reset.level).toBe(1);
    expect(reset.reason).toBe("Level 1 hold reset: D_M 2.25 ≥ θ1 2.00 for 0.00 s (grace 0.00 s) after 5.13 s of hold");
    expect(d.at(7.25, 1.5).reason).toContain("since t=7.25");
    d.hold(17.125, 1.5);
    expect(d.level()).toBe(1);
    d.at(17.25, 1.5);
    expect(d.level()).toBe(0);
  });

  test("with relaxFactor a strongly decelerating D̄_M shortens the hold", () => {
    const d = reach(1, { relaxFactor: 0.5, relaxAccelPerS2: 0.05 });
    // D_M = 1.9 − 0.05·s²: acceleration −0.1 /s² < −0.05.
    let changedAt = NaN;
    for (let s = 0; s <= 8; s += DT) {
      const x = d.at(2 + s, 1.9 - 0.05 * s * s);
      if (x.level === 0 && Number.isNaN(changedAt)) changedAt = s;
    }
    expect(changedAt).toBe(5);
    // Without it the same signal waits the full 10 s.
    const plain = reach(1);
    for (let s = 0; s <= 8; s += DT) plain.at(2 + s, 1.9 - 0.05 * s * s);
    expect(plain.level()).toBe(1);
  });
});

describe("escalation persistence", () => {
  const DWELL: [number, number, number, number, number] = [0, 0.25, 0.5, 0.5, 0.5];

  test("a level is entered once its threshold part has held for its dwell: not at dwell − ε, yes at dwell + ε", () => {
    const d = new Drive({ escalateAfterS: DWELL });
    d.hold(1, 1);
    // D̄_M rises through θ2 from t = 1.125 on: L1 at once (no dwell), L2 after 0.25 s.
    expect(d.at(1.125, 3.125).level).toBe(1);
    expect(d.last.reason).toBe("Level 0 → 1: D_M 3.13 > θ1 2.00");
    expect(d.at(1.25, 3.25).level).toBe(1);
    expect(d.at(1.375 - EPS, 3.375).level).toBe(1);
    const x = d.at(1.375 + EPS, 3.5);
    expect(x.level).toBe(2);
    expect(x.reason).toBe("Level 1 → 2: D_M 3.50 > θ2 3.00 and derivative +62.50/s > 0; held 0.25 s ≥ 0.25 s");
  });

  test("a violent but bounded event climbs to the highest admitted level: 0 → 1 → 2 → 4", () => {
    const d = new Drive({ escalateAfterS: DWELL });
    d.hold(1, 1);
    expect(d.at(1.125, 6).level).toBe(1); // D̄_M 6 > θ4 5, below 3·θ4
    expect(d.at(1.375 - EPS, 6).level).toBe(1);
    // Flat, so not L2's own condition, but L4's whole condition holds: L2 is admitted by its dwell.
    expect(d.at(1.375 + EPS, 6).level).toBe(2);
    expect(d.at(1.625 - EPS, 6).level).toBe(2);
    const x = d.at(1.625 + EPS, 6);
    expect(x.level).toBe(4);
    expect(x.reason).toBe("Level 2 → 4: D_M 6.00 > θ4 5.00; held 0.50 s ≥ 0.50 s");
    expect(d.changes.map((c) => [c.from, c.to])).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
    ]);
  });

  test("a dip below a level's threshold restarts that level's clock only", () => {
    const d = new Drive({ escalateAfterS: DWELL });
    d.hold(1, 1);
    d.at(1.125, 6);
    d.at(1.25, 6);
    // Below θ3, above θ2 but falling: the L3 and L4 clocks stop, L2's runs on
    // (0.25 s held), yet no condition above Level 1 holds at this sample.
    expect(d.at(1.375, 3.5).level).toBe(1);
    expect(d.at(1.5, 6).level).toBe(2); // L4's condition again, L2's dwell long past
    expect(d.at(1.875, 6).level).toBe(2); // 0.375 s of L4's new run
    expect(d.at(2, 6).level).toBe(4); // 0.5 s
  });

  test("without the spike filter a one-sample spike reaches Level 1, and no further", () => {
    const d = new Drive({ escalateAfterS: DWELL });
    d.hold(1, 1);
    expect(d.at(1.125, 14).level).toBe(1);
    d.hold(3, 1);
    expect(d.changes.map((c) => c.to)).toEqual([1]);
  });

  test("a noise excursion shorter than the dwell stays at Level 1", () => {
    const d = new Drive({ escalateAfterS: DWELL });
    d.hold(1, 1);
    // Above θ3 for 0.375 s, rising linearly: L2 after its 0.25 s, never L3 or L4.
    for (let t = 1.125; t < 1.5; t += DT) d.at(t, 4.5 + (t - 1) * 2);
    d.hold(20, 1);
    expect(Math.max(...d.changes.map((c) => c.to))).toBeLessThanOrEqual(2);
    const short = new Drive({ escalateAfterS: DWELL });
    short.hold(1, 1);
    short.at(1.125, 4.5);
    short.at(1.25, 4.75);
    short.hold(20, 1);
    expect(short.changes.map((c) => c.to)).toEqual([1, 0]);
  });
});

describe("emergency bypass", () => {
  const DWELL: [number, number, number, number, number] = [0, 0.25, 0.5, 0.5, 0.5];

  test("D̄_M above emergencyFactor·θ4 escalates at once: 3·θ4 + ε jumps 0 → 4, 3·θ4 − ε waits", () => {
    const d = new Drive({ escalateAfterS: DWELL, emergencyFactor: 3 });
    d.hold(1, 1);
    const x = d.at(1.125, 15 + EPS);
    expect(x.level).toBe(4);
    expect(x.reason).toBe("Level 0 → 4: D_M 15.00 > θ4 5.00; emergency, no dwell: D_M 15.00 > 3.00×θ4 15.00");
    const w = new Drive({ escalateAfterS: DWELL, emergencyFactor: 3 });
    w.hold(1, 1);
    expect(w.at(1.125, 15 - EPS).level).toBe(1);
  });

  test("time to failure under ttfCriticalS/2 escalates at once; under ttfCriticalS waits its dwell", () => {
    const mem: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    const b = baselineOf([LOAD, mem], [0, 0.5], [1, 1e8]);
    const run = (slopePerS: number) => {
      const d = new Drive({ escalateAfterS: DWELL, ttfCriticalS: 30, ttfMinSigmas: 0 }, b);
      for (let t = DT; t <= 2; t += DT) d.at(t, 1, 0.5 + slopePerS * t);
      return d;
    };
    // 0.04 /s: TTF = 12.5 − t, at t = 2.125 10.4 s < 15 s.
    const fast = run(0.04);
    const x = fast.at(2.125, 2.5, 0.5 + 0.04 * 2.125);
    expect(x.level).toBe(4);
    expect(x.reason).toMatch(/^Level 0 → 4: time to failure of mem_used_ratio 10\.3\d s < 30\.00 s and D_M 2\.50 > θ1 2\.00; emergency, no dwell: time to failure 10\.3\d s < 15\.00 s$/);
    // 0.02 /s: TTF = 25 − t ≈ 22.9 s: critical, not an emergency.
    const slow = run(0.02);
    expect(slow.at(2.125, 2.5, 0.5 + 0.02 * 2.125).level).toBe(1);
    expect(slow.at(2.625 - EPS, 2.5, 0.5 + 0.02 * (2.625 - EPS)).level).toBe(2);
    expect(slow.at(2.625 + EPS, 2.5, 0.5 + 0.02 * (2.625 + EPS)).level).toBe(4);
  });

  test("Level 5 is never reached without its dwell, emergency or not", () => {
    const forks: DimensionSpec = { name: "forks_per_s", unit: "1/s", loadSign: 1, propagation: true };
    const b = baselineOf([LOAD, forks], [0, 10], [1, 1e6]);
    const d = new Drive({ escalateAfterS: DWELL, icpCritical: 10 }, b);
    expect(d.at(1, 1, 10 + 20000).level).toBe(4); // 20 σ of forks: D̄_M 20 > 3·θ4, propagating
    expect(d.at(1.5 - EPS, 1, 10 + 20000).level).toBe(4);
    const x = d.at(1.5 + EPS, 1, 10 + 20000);
    expect(x.level).toBe(5);
    expect(x.reason).toBe("Level 4 → 5: propagation index 20.00 σ > 10.00 on forks_per_s; held 0.50 s ≥ 0.50 s");
  });
});

describe("spike filter", () => {
  test("one wild sample changes nothing; the same value twice in a row passes, one sample late", () => {
    const d = new Drive({ dmMedianOf3: true });
    d.hold(1, 1);
    const spike = d.at(1.125, 1000);
    expect(spike.dmRaw).toBe(1000);
    expect(spike.dm).toBe(1);
    expect(spike.level).toBe(0);
    expect(spike.learning).toBe(false); // as far out as an emergency: never learned
    d.hold(2, 1);
    expect(d.changes).toEqual([]);
    expect(d.at(2.125, 6).level).toBe(0);
    expect(d.at(2.25, 6).level).toBe(4);
  });

  test("with the defaults (τ 0.3 s, median, dwell) a one-sample spike of any size does not escalate past Level 1, at 100 ms or 10 ms", () => {
    for (const tick of [0.1, 0.01]) {
      for (const spike of [4, 10, 1e3, 1e9]) {
        const e = createEngine(baselineOf([LOAD], [0], [1]), defaultEngineConfig());
        let max = 0;
        for (let i = 0; i <= 2000; i++) {
          const d = step(e, { t: i * tick, x: Float64Array.from([i === 1000 ? spike : 1]) });
          max = Math.max(max, d.level);
        }
        expect(max).toBeLessThanOrEqual(1);
      }
    }
  });

  test("the first sample after start is filtered too: the median's history starts at dmMean", () => {
    const d = new Drive({ dmMedianOf3: true });
    expect(d.at(0.125, 50).level).toBe(0);
    expect(d.at(0.25, 1).level).toBe(0);
  });
});

describe("hold grace", () => {
  const GRACE = 2;

  test("an excursion above the threshold shorter than the grace leaves the hold running", () => {
    const d = reach(1, { holdGraceS: GRACE });
    d.at(2, 1.5);
    d.hold(5, 1.5);
    // Above θ1 from 5.125 through 7.125 − ε: 2 s − ε.
    d.hold(7, 2.25);
    expect(d.at(7.125 - EPS, 2.25).reason).toBe("Level 1 → 0 waits: D_M 1.50 < θ1 2.00 since t=2, hold 10 s");
    d.at(7.125, 1.5);
    d.hold(11.875, 1.5);
    expect(d.level()).toBe(1);
    const x = d.at(12, 1.5);
    expect(x.level).toBe(0);
    expect(x.reason).toBe("Level 1 → 0: D_M 1.50 < θ1 2.00 for 10.00 s (hold 10.00 s)");
  });

  test("an excursion lasting the grace resets the hold, which restarts below", () => {
    const d = reach(1, { holdGraceS: GRACE });
    d.at(2, 1.5);
    d.hold(5, 1.5);
    d.hold(7, 2.25); // above from 5.125: 1.875 s
    const reset = d.at(7.125, 2.25);
    expect(reset.level).toBe(1);
    expect(reset.reason).toBe("Level 1 hold reset: D_M 2.25 ≥ θ1 2.00 for 2.00 s (grace 2.00 s) after 5.13 s of hold");
    expect(d.at(7.25, 1.5).reason).toBe("Level 1 → 0 waits: D_M 1.50 < θ1 2.00 since t=7.25, hold 10 s");
    d.hold(17.125, 1.5);
    expect(d.level()).toBe(1);
    expect(d.at(17.25, 1.5).level).toBe(0);
  });

  test("the step down waits for D̄_M to be below at that sample", () => {
    const d = reach(3, { holdGraceS: GRACE });
    d.at(2, 2.5); // below θ2: the 60 s hold toward Level 2 runs from t = 2
    d.hold(61.5, 2.5);
    d.hold(62.5, 3.25); // above θ2 (dead zone) across the end of the hold, for 1 s
    expect(d.level()).toBe(3);
    const x = d.at(62.625, 2.5);
    expect(x.level).toBe(2);
    expect(x.reason).toBe("Level 3 → 2: D_M 2.50 < θ2 3.00 for 60.63 s (hold 60.00 s)");
  });

  test("with the default grace, noise crossings every few seconds no longer keep Level 4 up forever", () => {
    const d = reach(4, { holdGraceS: GRACE });
    // Below θ3 but crossing it for one sample every 5 s.
    for (let t = 2; t <= 400; t += DT) d.at(t, Math.round(t * 8) % 40 === 0 ? 4.5 : 3.5);
    expect(d.changes.filter((c) => c.from === 4 && c.to === 3).length).toBe(1);
    const plain = reach(4);
    for (let t = 2; t <= 400; t += DT) plain.at(t, Math.round(t * 8) % 40 === 0 ? 4.5 : 3.5);
    expect(plain.level()).toBe(4);
  });
});

describe("baselines", () => {
  test("a baseline written before the floors (no dmTail, no dmMax) runs with its thresholds as stored", () => {
    const b = baselineOf([LOAD], [0], [1]);
    expect(b.dmTail).toBeUndefined();
    expect(b.dmMax).toBeUndefined();
    const e = createEngine(b, defaultEngineConfig());
    expect(step(e, { t: 0, x: Float64Array.from([0]) }).thresholds).toEqual(TH);
  });
});

describe("quarantine", () => {
  function quarantined(): Drive {
    const d = reach(4, { quarantineAfterS: 10 });
    let dm = 6;
    for (let t = 1.25; d.level() !== 5; t += DT) d.at(t, (dm += 0.01));
    return d;
  }

  test("Level 5 is never left automatically", () => {
    const d = quarantined();
    const t = d.t;
    d.at(t + DT, 0);
    d.hold(t + 7200, 0);
    expect(d.level()).toBe(5);
    expect(d.last.learning).toBe(false);
    expect(d.last.reason).toBe("");
  });

  test("releaseQuarantine() lands on Level 3 with a fresh 60 s hold, then de-escalates normally", () => {
    const d = quarantined();
    d.at(100, 0.5);
    d.hold(200, 0.5);
    const r = releaseQuarantine(d.state, 200.0625);
    expect(r.level).toBe(3);
    expect(r.previousLevel).toBe(5);
    expect(r.levelName).toBe("ACTIVE_CONTAINMENT");
    expect(r.reason).toContain("released by the operator");
    expect(currentLevel(d.state)).toBe(3);
    d.at(200.125, 0.5);
    expect(d.at(260.0625 - EPS, 0.5).level).toBe(3);
    expect(d.at(260.0625 + EPS, 0.5).level).toBe(2);
  });

  test("releaseQuarantine() refuses when the engine is not at Level 5", () => {
    const d = reach(3);
    let err: unknown;
    try {
      releaseQuarantine(d.state, 5);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HosaError);
    expect((err as HosaError).message).toBe("cannot release quarantine: the engine is at Level 3 (ACTIVE_CONTAINMENT), not Level 5");
    expect(d.level()).toBe(3);
  });
});

describe("learning", () => {
  test("Decision.learning is true only at Level 0 under θ1", () => {
    const d = new Drive();
    expect(d.at(1, 1).learning).toBe(true);
    expect(d.at(2, 2.5).learning).toBe(false);
    expect(d.at(3, 1).learning).toBe(false); // Level 1 hold: still protecting the baseline
  });

  test("an anomaly does not change the baseline; homeostasis does", () => {
    const cfg = { refactorEvery: 1 };
    const b = baselineOf([LOAD, { name: "b", unit: "1", loadSign: 1 }], [0, 0], [1, 1]);
    b.count = 50; // a young baseline: every learned sample moves it visibly
    const probe = Float64Array.from([1, -1]);
    const fresh = createEngine(b, exactConfig(cfg));
    const reference = step(fresh, { t: 0, x: probe }).dmRaw;

    const anomalous = createEngine(b, exactConfig(cfg));
    for (let i = 0; i < 200; i++) {
      const x = step(anomalous, { t: i * DT, x: Float64Array.from([6 + i * 0.01, 3]) });
      expect(x.learning).toBe(false);
    }
    // Still in the hold after the anomaly, the probe is judged against the untouched baseline.
    const after = step(anomalous, { t: 200 * DT, x: probe });
    expect(after.learning).toBe(false);
    expect(after.dmRaw).toBe(reference);

    const calm = createEngine(b, exactConfig(cfg));
    // The first sample only starts the clock: it is not judged, so not learned.
    for (let i = 0; i < 200; i++) expect(step(calm, { t: i * DT, x: Float64Array.from([1.2, 0.8]) }).learning).toBe(i > 0);
    expect(step(calm, { t: 200 * DT, x: probe }).dmRaw).not.toBe(reference);
  });

  test("with forgetting the baseline follows a slow drift that plain Welford barely follows", () => {
    const run = (halfLife: number) => {
      const b = baselineOf([LOAD], [0], [1]);
      b.count = 10_000;
      // Thresholds out of reach: this test is about the baseline, not the levels.
      b.thresholds = { theta1: 10, theta2: 20, theta3: 30, theta4: 40 };
      const e = createEngine(b, exactConfig({ refactorEvery: 1, forgettingHalfLifeS: halfLife }));
      const r = prng(3);
      // Drift of 1.5 σ over 600 s at 10 Hz, noise 0.3 σ.
      for (let i = 0; i <= 6000; i++) expect(step(e, { t: i * 0.1, x: Float64Array.from([(1.5 * i) / 6000 + 0.3 * gaussian(r)]) }).learning).toBe(i > 0);
      return step(e, { t: 600.1, x: Float64Array.from([1.5]) }).dmRaw;
    };
    const plain = run(0);
    const forgetting = run(60);
    expect(forgetting).toBeLessThan(plain / 2);
  });
});

describe("decisions", () => {
  function scenario(): string[] {
    const dims: DimensionSpec[] = [
      { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 },
      { name: "psi_mem_some", unit: "ratio", loadSign: 1 },
      { name: "mem_free_bytes", unit: "bytes", loadSign: -1, capacity: 0 },
    ];
    const b: Baseline = {
      version: 1,
      dims,
      count: 3000,
      mean: [0.6, 0.01, 6e9],
      covariance: [1e-4, 0, 0, 0, 9e-6, 0, 0, 0, 1e14],
      dmMean: 1.5,
      dmStd: 0.5,
      thresholds: { theta1: 2.5, theta2: 3, theta3: 3.5, theta4: 4 },
    };
    const e = createEngine(b, defaultEngineConfig());
    const r = prng(77);
    const out: string[] = [];
    let t = 0;
    for (let i = 0; i < 3000; i++) {
      t += i % 7 === 0 ? 0.013 : 0.1; // irregular
      const leak = t > 150 ? (t - 150) * 0.01 : 0;
      const x = Float64Array.from([0.6 + leak + 0.01 * gaussian(r), 0.01 + leak / 2 + 0.003 * gaussian(r), 6e9 - leak * 1e10 + 1e7 * gaussian(r)]);
      out.push(JSON.stringify(snapshotDecision(step(e, { t, x }))));
    }
    return out;
  }

  test("same samples in, same decisions out, bit for bit", () => {
    const a = scenario();
    const b = scenario();
    expect(a.length).toBe(3000);
    expect(a.join("\n")).toBe(b.join("\n"));
    const levels = new Set(a.map((s) => (JSON.parse(s) as Decision).level));
    expect(levels.size).toBeGreaterThan(2); // the scenario exercises the machine
  });

  test("step() returns the state's own Decision; snapshotDecision() copies it", () => {
    const d = new Drive();
    const first = step(d.state, { t: 1, x: Float64Array.from([1]) });
    const snap = snapshotDecision(first);
    const second = step(d.state, { t: 2, x: Float64Array.from([6]) });
    expect(second).toBe(first);
    expect(second.level).toBe(4);
    expect(snap.level).toBe(0);
    expect(snap.t).toBe(1);
    expect(snap.dominant).not.toBe(first.dominant);
    expect(snap.thresholds).not.toBe(first.thresholds);
  });

  test("every Decision field is filled", () => {
    const b = baselineOf(
      [LOAD, { name: "free", unit: "1", loadSign: -1 }, { name: "c", unit: "1", loadSign: 0 }, { name: "d", unit: "1", loadSign: 1 }],
      [0, 0, 0, 0],
      [1, 1, 1, 1],
    );
    const e = createEngine(b, exactConfig());
    step(e, { t: 0, x: Float64Array.from([0, 0, 0, 0]) });
    const x = snapshotDecision(step(e, { t: 1, x: Float64Array.from([3, -1, 0.5, 0]) }));
    expect(Object.keys(x).sort()).toEqual(
      ["t", "level", "levelName", "previousLevel", "dmRaw", "dm", "dmDerivative", "dmAcceleration", "phi", "regime", "dominant", "thresholds", "ttfS", "ttfDim", "reason", "learning"].sort(),
    );
    expect(x.dmRaw).toBeCloseTo(Math.sqrt(9 + 1 + 0.25), 12);
    expect(x.dm).toBe(x.dmRaw);
    expect(x.phi).toBeCloseTo((3 + 1 + 0) / Math.sqrt(3), 12);
    expect(x.dominant.map((c) => c.dim)).toEqual(["load", "free", "c"]);
    expect(x.dominant[0].share).toBeCloseTo(9 / 10.25, 12);
    expect(x.thresholds).toEqual(TH);
    expect(x.level).toBe(2);
    expect(x.regime).toBe(3); // rising and accelerating above θ2
  });

  test("anomalous silence: demand collapses far below baseline (regime −3) and still escalates", () => {
    const b = baselineOf([LOAD, { name: "rx_packets_per_s", unit: "1/s", loadSign: 1 }], [0, 0], [1, 1]);
    const e = createEngine(b, exactConfig());
    step(e, { t: 0, x: Float64Array.from([0, 0]) });
    const x = step(e, { t: 1, x: Float64Array.from([-4, -4]) });
    expect(x.phi).toBeCloseTo(-8 / Math.SQRT2, 12);
    expect(x.regime).toBe(-3);
    expect(x.level).toBe(4);
    const idle = step(createEngine(b, exactConfig()), { t: 0, x: Float64Array.from([-1.2, -1.2]) });
    expect(idle.regime).toBe(0); // primed: the first sample only starts the clock
  });
});

describe("input", () => {
  test("a sample of the wrong width is refused with one line", () => {
    const d = new Drive();
    expect(() => step(d.state, { t: 1, x: Float64Array.from([1, 2]) })).toThrow("engine: sample at t=1 has 2 values, the baseline has 1 dimensions");
  });

  test("time going backwards is refused", () => {
    const d = new Drive();
    d.at(5, 1);
    expect(() => step(d.state, { t: 4.9, x: Float64Array.from([1]) })).toThrow("engine: sample time goes backwards or is not a number: t=4.9 after t=5");
    expect(() => step(d.state, { t: NaN, x: Float64Array.from([1]) })).toThrow(HosaError);
  });

  test("a NaN value neither poisons D_M nor is learned", () => {
    const d = new Drive();
    const x = d.at(1, NaN);
    expect(x.dmRaw).toBe(0);
    expect(x.learning).toBe(false);
    expect(d.at(2, 1).learning).toBe(true);
  });

  test("a malformed baseline is refused", () => {
    const b = baselineOf([LOAD], [0], [1]);
    expect(() => createEngine({ ...b, covariance: [1, 2] }, exactConfig())).toThrow("cannot start the engine: baseline covariance has 2 values, expected 1");
    expect(() => createEngine({ ...b, mean: [NaN] }, exactConfig())).toThrow("cannot start the engine: baseline holds a non-finite number");
  });
});

describe("configuration", () => {
  test("engineConfigFrom() takes the [engine] section and defaults the rest", () => {
    const c = defaultConfig().engine;
    const e = engineConfigFrom({ ...c, ewmaTauS: 0.5, holdS: [1, 2, 3, 4] });
    expect(e).toEqual({ ...defaultEngineConfig(), ewmaTauS: 0.5, holdS: [1, 2, 3, 4] });
    expect(engineConfigFrom(c)).toEqual(defaultEngineConfig());
  });

  test("engineConfigFrom() refuses thresholds that do not rise", () => {
    let err: unknown;
    try {
      engineConfigFrom({ ...defaultConfig().engine, thresholdSigmas: [2, 2, 4, 5] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HosaError);
    expect((err as HosaError).exitCode).toBe(EXIT.CONFIG);
    expect((err as HosaError).message).toBe("cannot use [engine] configuration: threshold_sigmas must rise strictly, found [2, 2, 4, 5]");
    expect(() => engineConfigFrom({ ...defaultConfig().engine, shrinkage: 2 })).toThrow("shrinkage must be within 0..1, found 2");
  });

  test("engineConfigFrom() takes escalate_after_s and hold_grace_s, and refuses a dwell that is not 5 non-negative numbers", () => {
    const c = defaultConfig().engine;
    const e = engineConfigFrom({ ...c, escalateAfterS: [0, 1, 2, 3, 4], holdGraceS: 0 });
    expect(e.escalateAfterS).toEqual([0, 1, 2, 3, 4]);
    expect(e.holdGraceS).toBe(0);
    expect(() => engineConfigFrom({ ...c, escalateAfterS: [0, 1, 2, 3] as unknown as [number, number, number, number, number] })).toThrow(
      "cannot use [engine] configuration: escalate_after_s must be 5 non-negative numbers",
    );
    expect(() => engineConfigFrom({ ...c, holdGraceS: -1 })).toThrow("hold_grace_s must be ≥ 0, found -1");
  });
});
