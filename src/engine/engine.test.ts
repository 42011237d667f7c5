import { describe, expect, test } from "bun:test";
import { EXIT, HosaError } from "../errors.ts";
import { gaussian, prng } from "../../test/prng.ts";
import {
  createEngine,
  currentLevel,
  defaultEngineConfig,
  defaultEngineSettings,
  engineConfigFrom,
  releaseQuarantine,
  snapshotDecision,
  step,
  type EngineConfig,
  type EngineState,
} from "./engine.ts";
import type { Baseline, Danger, Decision, DimensionSpec, Level } from "./types.ts";
import { decisionFields } from "./fields.ts";

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

// The doctrine's bare rules: no spike filter, no smoothing, no dwell, no
// hold grace, one sample is enough. The guards have their own tests below,
// each turned on alone.
function exactConfig(over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    ...defaultEngineConfig(),
    ewmaTauS: 0,
    ewmaMinSamples: 0,
    refactorEvery: Infinity,
    dmMedianOf3: false,
    escalateAfterS: [0, 0, 0, 0, 0],
    minSamples: 1,
    holdGraceS: 0,
    ...over,
  };
}

/** A tracker's danger: `app` heading to its memory limit in `ttfS` seconds. */
function danger(ttfS: number, containmentFailing = false): Danger {
  return { ttfS, cgroup: "app", resource: "memory limit", containmentFailing, evidence: `app at 1.9 GiB of 2 GiB, +50 MB/s` };
}

/** Drives a one-dimensional engine with D_M values (and, optionally, a tracker's danger). */
class Drive {
  readonly state: EngineState;
  t = 0;
  last!: Decision;
  /** The danger every following sample carries; undefined: none (the engine judges its own). */
  danger: Danger | undefined;
  readonly changes: { t: number; from: Level; to: Level; reason: string }[] = [];
  constructor(over: Partial<EngineConfig> = {}, baseline = baselineOf([LOAD], [0], [1])) {
    this.state = createEngine(baseline, exactConfig(over));
    this.at(0, ...baseline.mean); // the primed first sample: D̄_M starts at dmMean = 1
  }
  at(t: number, ...x: number[]): Decision {
    this.t = t;
    const d = step(this.state, { t, x: Float64Array.from(x), ...(this.danger ? { danger: this.danger } : {}) });
    if (d.level !== d.previousLevel) this.changes.push({ t, from: d.previousLevel, to: d.level, reason: d.reason });
    this.last = snapshotDecision(d);
    return this.last;
  }
  /** Hold x from the next grid point through `until`, inclusive. */
  hold(until: number, ...x: number[]): Decision {
    for (let t = this.t + DT; t <= until + 1e-12; t += DT) this.at(Math.round(t / DT) * DT, ...x);
    return this.last;
  }
  /** D_M along a line from its current value to `to` by `until`. */
  ramp(until: number, from: number, to: number): Decision {
    const t0 = this.t;
    for (let t = t0 + DT; t <= until + 1e-12; t += DT) {
      const u = Math.round(t / DT) * DT;
      this.at(u, from + ((to - from) * (u - t0)) / (until - t0));
    }
    return this.last;
  }
  level(): Level {
    return currentLevel(this.state);
  }
}

describe("surprise: Levels 1 and 2", () => {
  test("L0 → L1 when D̄_M > θ1", () => {
    const d = new Drive();
    d.hold(1, 1);
    const x = d.at(1.125, 2.5);
    expect(x.level).toBe(1);
    expect(x.reason).toBe("Level 0 → 1: D_M 2.50 > θ1 2.00");
  });

  test("L2 needs D̄_M > θ2 and a significant rise: a flat D̄_M above θ2 stays at Level 1", () => {
    const e = createEngine({ ...baselineOf([LOAD], [0], [1]), dmMean: 3.5 }, exactConfig());
    let x = step(e, { t: 0, x: Float64Array.from([3.5]) });
    for (let t = DT; t <= 5; t += DT) x = step(e, { t, x: Float64Array.from([3.5]) });
    expect(x.level).toBe(1);
    expect(x.dmRising).toBe(false);
  });

  test("a ramp through θ2 is Level 2, and the reason says the rise is significant", () => {
    const d = new Drive();
    d.hold(1, 1);
    d.ramp(3, 1, 3.8);
    const l2 = d.changes.find((c) => c.to === 2)!;
    expect(l2).toBeDefined();
    expect(l2.reason).toMatch(/^Level 1 → 2: D_M 3\.\d\d > θ2 3\.00 and rising significantly \(\+1\.40\/s\)$/);
  });

  test("no rule fires on a slope's sign alone: noise around a level above θ2 with a tiny drift is not rising", () => {
    const d = new Drive();
    const r = prng(5);
    d.hold(1, 1);
    let rising = 0;
    let judged = 0;
    for (let t = 1.125; t <= 600; t += DT) {
      d.at(t, 3.5 + 0.001 * (t - 1) + 0.3 * gaussian(r));
      // Past the window that holds the step from 1 to 3.5.
      if (t > 3) {
        judged++;
        if (d.last.dmRising) rising++;
      }
    }
    expect(rising / judged).toBeLessThan(0.005);
  });

  test("surprise alone stays at Level 2, however far: D̄_M 50 × θ4 without danger, and the reason says so", () => {
    const d = new Drive();
    d.hold(1, 1);
    d.ramp(3, 1, 250);
    d.hold(30, 250);
    expect(Math.max(...d.changes.map((c) => c.to))).toBe(2);
    expect(d.changes.map((c) => c.reason).join("\n")).toContain("surprise alone stays at Level 2");
  });

  test("a significant sustained rise below θ1 is Level 1", () => {
    const b = { ...baselineOf([LOAD], [0], [1]), dmStd: 0.3 };
    const d = new Drive({}, b);
    d.hold(1, 0.2);
    d.ramp(6, 0.2, 1.9);
    const l1 = d.changes.find((c) => c.to === 1)!;
    expect(l1.reason).toMatch(/^Level 0 → 1: D_M rising significantly for /);
  });

  test("a small rise (below sustainRiseSigmas·dmStd) stays in homeostasis", () => {
    const d = new Drive();
    d.hold(1, 0.2);
    d.ramp(6, 0.2, 1.9); // 1.7 < 2 dmStd
    expect(d.level()).toBe(0);
  });
});

describe("danger: Levels 3 to 5", () => {
  test("L3 once a danger has held its dwell (0.3 s and 3 samples), whatever D̄_M: Level 1 while the dwell runs", () => {
    const d = new Drive({ escalateAfterS: [0, 0.3, 0.3, 0.3, 0], minSamples: 3 });
    d.hold(1, 0.5);
    d.danger = danger(60);
    expect(d.at(1.125, 0.5).level).toBe(1);
    expect(d.last.reason).toBe("Level 0 → 1: danger seen, its dwell runs: memory limit of cgroup app exhausted in 60.00 s (app at 1.9 GiB of 2 GiB, +50 MB/s)");
    expect(d.at(1.25, 0.5).level).toBe(1);
    expect(d.at(1.375, 0.5).level).toBe(1); // 3 samples but 0.25 s
    const x = d.at(1.5, 0.5);
    expect(x.level).toBe(3);
    expect(x.reason).toBe(
      "Level 1 → 3: danger: memory limit of cgroup app exhausted in 60.00 s (app at 1.9 GiB of 2 GiB, +50 MB/s) < 120.00 s; held 0.38 s ≥ 0.30 s",
    );
    expect(x.dangerTtfS).toBe(60);
    expect(x.dangerCgroup).toBe("app");
    expect(x.dangerEvidence).toBe("app at 1.9 GiB of 2 GiB, +50 MB/s");
  });

  test("a pending danger (seen, not yet steady) is Level 1 and no more, however near; once proven, Level 3 at once: its dwell ran from first sight", () => {
    const d = new Drive({ escalateAfterS: [0, 0.3, 0.3, 0.3, 0], minSamples: 3 });
    d.hold(1, 0.5);
    d.danger = { ...danger(20), pending: true };
    expect(d.at(1.125, 0.5).level).toBe(1);
    expect(d.last.reason).toBe(
      "Level 0 → 1: danger seen, pending until its growth proves steady: memory limit of cgroup app exhausted in 20.00 s (app at 1.9 GiB of 2 GiB, +50 MB/s)",
    );
    expect(d.last.dangerPending).toBe(true);
    expect(decisionFields(d.last).danger_pending).toBe(true);
    d.hold(3, 0.5);
    expect(d.level()).toBe(1);
    expect(d.changes.map((c) => c.to)).toEqual([1]);
    // Proven: its dwell (0.3 s) ran while it was pending.
    d.danger = danger(40);
    const x = d.at(3.125, 0.5);
    expect(x.level).toBe(3);
    expect(x.reason).toEndWith("; held 2.00 s ≥ 0.30 s");
    expect(x.dangerPending).toBe(false);
    expect("danger_pending" in decisionFields(x)).toBe(false);
    // A pending danger is not calm for Level 1: the way down to 0 waits until it is gone.
    const e = new Drive({ escalateAfterS: [0, 0.3, 0.3, 0.3, 0], minSamples: 3, holdS: [1, 1, 1, 1] });
    e.hold(1, 0.5);
    e.danger = { ...danger(50), pending: true };
    e.hold(5, 0.5);
    expect(e.level()).toBe(1);
    e.danger = undefined;
    e.hold(6.5, 0.5);
    expect(e.level()).toBe(0);
  });

  test("a time to failure at or beyond the horizon is no danger", () => {
    const d = new Drive();
    d.hold(1, 0.5);
    d.danger = danger(120);
    d.hold(10, 0.5);
    expect(d.level()).toBe(0);
    d.danger = danger(Infinity);
    d.hold(20, 0.5);
    expect(d.level()).toBe(0);
    expect(d.last.dangerCgroup).toBe("app");
  });

  test("L4 on a danger closer than ttfCriticalS, or D̄_M > θ4 with a danger", () => {
    const a = new Drive();
    a.hold(1, 0.5);
    a.danger = danger(20);
    const x = a.at(1.125, 0.5);
    expect(x.level).toBe(4);
    expect(x.reason).toBe("Level 0 → 4: danger, memory limit of cgroup app exhausted in 20.00 s (app at 1.9 GiB of 2 GiB, +50 MB/s) < 30.00 s");
    const b = new Drive();
    b.hold(1, 0.5);
    b.danger = danger(100);
    expect(b.at(1.125, 0.5).level).toBe(3);
    const y = b.at(1.25, 6);
    expect(y.level).toBe(4);
    expect(y.reason).toStartWith("Level 3 → 4: D_M 6.00 > θ4 5.00 with danger: memory limit of cgroup app");
  });

  test("Level 5 needs Level 4, D̄_M > θ4 and containment failing, held quarantineAfterS", () => {
    const d = new Drive({ quarantineAfterS: 10 });
    d.hold(1, 0.5);
    d.danger = danger(20, true);
    d.at(1.125, 0.5);
    expect(d.level()).toBe(4);
    d.hold(60, 0.5); // containment failing, but D̄_M below θ4
    expect(d.level()).toBe(4);
    d.at(60.125, 6);
    d.hold(70.125 - DT, 6);
    expect(d.level()).toBe(4);
    const q = d.at(70.125, 6);
    expect(q.level).toBe(5);
    expect(q.reason).toStartWith("Level 4 → 5: D_M 6.00 > θ4 5.00 and containment failing for 10.00 s: memory limit of cgroup app");
    expect(q.containmentFailing).toBe(true);
  });

  test("D̄_M > θ4 with a danger whose containment works is not Level 5", () => {
    const d = new Drive({ quarantineAfterS: 10 });
    d.hold(1, 0.5);
    d.danger = danger(20, false);
    d.at(1.125, 6);
    d.hold(200, 6);
    expect(d.level()).toBe(4);
  });

  test("never Level 5 from the propagation index alone", () => {
    const forks: DimensionSpec = { name: "forks_per_s", unit: "1/s", loadSign: 1, propagation: true };
    const d = new Drive({ quarantineAfterS: 1 }, baselineOf([forks], [0], [1]));
    d.hold(1, 0);
    d.ramp(3, 0, 1000);
    d.hold(600, 1000);
    expect(d.level()).toBe(2);
    expect(d.last.regime).toBe(5);
  });

  test("without a tracker the engine judges danger from its own exhaustible dimensions, with a significant slope", () => {
    const mem: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    // mem has a huge variance so it adds nothing to D_M: the test drives TTF alone.
    const d = new Drive({ ttfMinSigmas: 0 }, baselineOf([LOAD, mem], [0, 0.5], [1, 1e8]));
    for (let t = DT; t <= 2; t += DT) d.at(t, 1, 0.5 + 0.005 * t);
    // 0.005/s from 0.51: 98 s to 1, a danger; flat would be none.
    expect(d.last.ttfDim).toBe("mem_used_ratio");
    expect(d.last.ttfS).toBeCloseTo((1 - 0.51) / 0.005, 6);
    expect(d.level()).toBe(3);
    expect(d.last.dangerResource).toBe("mem_used_ratio");
    expect(d.last.dangerCgroup).toBe("");
    expect(d.last.dangerEvidence).toContain("mem_used_ratio at 0.5100");
  });

  test("own TTF: Infinity when not heading to capacity, 0 past it; free memory falls toward 0", () => {
    const used: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    const free: DimensionSpec = { name: "mem_free_bytes", unit: "bytes", loadSign: -1, capacity: 0 };
    const d = new Drive({ ttfMinSigmas: 0 }, baselineOf([used, free], [0.5, 8e9], [1e8, 1e30]));
    for (let t = DT; t <= 2; t += DT) d.at(t, 0.5 - 0.01 * t, 8e9);
    expect(d.last.ttfS).toBe(Infinity);
    expect(d.last.ttfDim).toBe(null);
    for (let t = 2 + DT; t <= 6; t += DT) d.at(t, 0.48, 7e9 - 1e9 * (t - 2));
    expect(d.last.ttfDim).toBe("mem_free_bytes");
    expect(d.last.ttfS).toBeCloseTo(3, 6);
    for (let t = 6 + DT; t <= 9; t += DT) d.at(t, 1.01, 3e9);
    expect(d.last.ttfDim).toBe("mem_used_ratio");
    expect(d.last.ttfS).toBe(0);
  });

  test("own TTF: a slope within the dimension's normal range, or within its noise, is no time to failure", () => {
    const mem: DimensionSpec = { name: "mem_used_ratio", unit: "ratio", loadSign: 1, capacity: 1 };
    const d = new Drive({ ttfMinSigmas: 3 }, baselineOf([LOAD, mem], [0, 0.5], [1, 0.01])); // σ = 0.1
    for (let t = DT; t <= 2; t += DT) d.at(t, 0, 0.5 + 0.1 * t); // 2 σ up at t = 2
    expect(d.last.ttfS).toBe(Infinity);
    const r = prng(9);
    const n = new Drive({}, baselineOf([LOAD, mem], [0, 0.5], [1, 0.05 * 0.05]));
    for (let t = DT; t <= 60; t += DT) {
      n.at(t, 0, 0.5 + 0.05 * gaussian(r));
      expect(n.last.ttfS).toBe(Infinity);
    }
  });
});

describe("de-escalation", () => {
  test("after a danger ends: 4 → 3 → 2 within 60 s (holds of 20 s), then the surprise holds 2 → 1 → 0", () => {
    const d = new Drive();
    d.hold(1, 0.5);
    d.danger = danger(20);
    d.at(1.125, 0.5);
    d.hold(30, 0.5);
    expect(d.level()).toBe(4);
    d.danger = danger(Infinity);
    d.hold(200, 0.5);
    expect(d.changes.map((c) => [c.t, c.from, c.to])).toEqual([
      [1.125, 0, 4],
      [50.125, 4, 3],
      [70.125, 3, 2],
      [100.125, 2, 1],
      [110.125, 1, 0],
    ]);
    expect(d.changes[1].reason).toBe("Level 4 → 3: no critical danger for 20.00 s (hold 20.00 s)");
    expect(d.changes[2].reason).toBe("Level 3 → 2: no danger for 20.00 s (hold 20.00 s)");
  });

  test("L4 falls to L3 when the danger is no longer critical but still there, and holds L3 while it lasts", () => {
    const d = new Drive();
    d.hold(1, 0.5);
    d.danger = danger(20);
    d.at(1.125, 0.5);
    d.danger = danger(90);
    d.hold(1000, 0.5);
    expect(d.level()).toBe(3);
  });

  test("surprise holds: L2 → L1 after D̄_M < θ1 for 30 s, L1 → L0 after 10 s more; not a sample earlier", () => {
    const d = new Drive();
    d.hold(1, 1);
    d.ramp(3, 1, 3.8);
    expect(d.level()).toBe(2);
    d.at(4, 1.5);
    d.hold(34 - DT, 1.5);
    expect(d.level()).toBe(2);
    expect(d.at(34, 1.5).level).toBe(1);
    d.hold(44 - DT, 1.5);
    expect(d.level()).toBe(1);
    expect(d.at(44, 1.5).level).toBe(0);
  });

  test("L2 stays in its dead zone (θ1 < D̄_M, not rising) indefinitely", () => {
    const d = new Drive();
    d.hold(1, 1);
    d.ramp(3, 1, 3.8);
    d.at(4, 2.5);
    d.hold(2000, 2.5);
    expect(d.level()).toBe(2);
  });

  test("a hold spans samples as well as seconds: at 60 s steps the 10 s hold of Level 1 takes 3 samples", () => {
    const d = new Drive({ minSamples: 3 });
    d.at(60, 2.5);
    expect(d.level()).toBe(1);
    d.at(120, 1);
    d.at(180, 1);
    expect(d.level()).toBe(1);
    expect(d.at(240, 1).level).toBe(0);
  });
});

describe("hold grace", () => {
  test("a danger back for less than the grace leaves the Level 3 hold running; longer resets it", () => {
    const d = new Drive({ holdGraceS: 2 });
    d.hold(1, 0.5);
    d.danger = danger(60);
    d.at(1.125, 0.5);
    expect(d.level()).toBe(3);
    d.danger = danger(Infinity);
    d.hold(11, 0.5);
    d.danger = danger(60);
    d.hold(12, 0.5); // 1 s back: a brush
    d.danger = danger(Infinity);
    d.hold(21.25, 0.5);
    expect(d.changes.at(-1)).toEqual({ t: 21.25, from: 3, to: 2, reason: "Level 3 → 2: no danger for 20.00 s (hold 20.00 s)" });
    const e = new Drive({ holdGraceS: 2 });
    e.hold(1, 0.5);
    e.danger = danger(60);
    e.at(1.125, 0.5);
    e.danger = danger(Infinity);
    e.hold(11, 0.5);
    e.danger = danger(60);
    const reset = e.hold(13.125, 0.5);
    expect(reset.reason).toBe("Level 3 hold reset: danger back (time to failure 60.00 s) for 2.00 s (grace 2.00 s) after 11.88 s of hold");
    e.danger = danger(Infinity);
    e.hold(33, 0.5);
    expect(e.level()).toBe(3);
    e.hold(33.25, 0.5);
    expect(e.level()).toBe(2);
  });

  test("with the defaults, noise brushing θ1 every few seconds lets Level 1 end", () => {
    const cfg = defaultEngineConfig();
    const e = createEngine(baselineOf([LOAD], [0], [1]), cfg);
    const r = prng(11);
    let level = 0;
    let t = 0;
    for (; t < 5; t += 0.1) level = step(e, { t, x: Float64Array.from([4]) }).level;
    expect(level).toBe(1);
    for (; t < 300; t += 0.1) level = step(e, { t, x: Float64Array.from([gaussian(r)]) }).level;
    expect(level).toBe(0);
  });
});

describe("any sampling rate", () => {
  test("the EWMA spans at least ewmaMinSamples steps: at 60 s steps α = 1 − e^(−1/3), not 1", () => {
    const e = createEngine(baselineOf([LOAD], [0], [1]), { ...defaultEngineConfig(), dmMedianOf3: false });
    step(e, { t: 0, x: Float64Array.from([1]) });
    const x = step(e, { t: 60, x: Float64Array.from([4]) });
    expect(x.dm).toBeCloseTo(1 + 3 * (1 - Math.exp(-1 / 3)), 12);
  });

  test("the same episode in samples gives the same levels at 10 ms, 1 s and 60 s steps", () => {
    const run = (stepS: number) => {
      const cfg = { ...defaultEngineConfig(), holdS: [10, 30, 20, 20] as [number, number, number, number] };
      const e = createEngine({ ...baselineOf([LOAD], [0], [1]), dmStd: 0.5 }, cfg);
      const r = prng(4);
      const levels: number[] = [];
      for (let i = 0; i < 6000; i++) {
        const bump = i >= 1000 && i < 1100 ? (i - 1000) * 0.1 : 0;
        levels.push(step(e, { t: i * stepS, x: Float64Array.from([0.5 * gaussian(r) + bump]) }).level);
      }
      return levels;
    };
    for (const s of [0.01, 1, 60]) {
      const l = run(s);
      expect(Math.max(...l.slice(0, 1000))).toBe(0);
      expect(Math.max(...l.slice(1000, 1100))).toBe(2);
      expect(l[5999]).toBe(0);
    }
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
    expect(spike.learning).toBe(false); // three times θ4 out: never learned
    d.hold(2, 1);
    expect(d.changes).toEqual([]);
    expect(d.at(2.125, 2.5).level).toBe(0);
    expect(d.at(2.25, 2.5).level).toBe(1);
  });

  test("with the defaults a one-sample spike of any size does not escalate, at 100 ms or 10 ms", () => {
    for (const tick of [0.1, 0.01]) {
      for (const spike of [4, 10, 1e3, 1e9]) {
        const e = createEngine(baselineOf([LOAD], [0], [1]), defaultEngineConfig());
        let max = 0;
        for (let i = 0; i <= 2000; i++) max = Math.max(max, step(e, { t: i * tick, x: Float64Array.from([i === 1000 ? spike : 1]) }).level);
        expect(max).toBe(0);
      }
    }
  });

  test("the first sample after start is filtered too: the median's history starts at dmMean", () => {
    const d = new Drive({ dmMedianOf3: true });
    expect(d.at(0.125, 50).level).toBe(0);
    expect(d.at(0.25, 1).level).toBe(0);
  });
});

describe("quarantine", () => {
  function quarantined(): Drive {
    const d = new Drive({ quarantineAfterS: 10 });
    d.hold(1, 0.5);
    d.danger = danger(20, true);
    d.at(1.125, 6);
    d.hold(12, 6);
    expect(d.level()).toBe(5);
    return d;
  }

  test("Level 5 is never left automatically", () => {
    const d = quarantined();
    d.danger = undefined;
    d.hold(d.t + 7200, 0);
    expect(d.level()).toBe(5);
    expect(d.last.learning).toBe(false);
    expect(d.last.reason).toBe("");
  });

  test("releaseQuarantine() lands on Level 3 with a fresh hold, then de-escalates normally", () => {
    const d = quarantined();
    d.danger = danger(Infinity);
    d.hold(200, 0.5);
    const r = releaseQuarantine(d.state, 200.0625);
    expect(r.level).toBe(3);
    expect(r.previousLevel).toBe(5);
    expect(r.levelName).toBe("ACTIVE_CONTAINMENT");
    expect(r.reason).toContain("released by the operator");
    expect(currentLevel(d.state)).toBe(3);
    d.at(200.125, 0.5);
    expect(d.at(220.0625 - EPS, 0.5).level).toBe(3);
    expect(d.at(220.0625 + EPS, 0.5).level).toBe(2);
  });

  test("releaseQuarantine() refuses when the engine is not at Level 5", () => {
    const d = new Drive();
    d.danger = danger(60);
    d.hold(1, 0.5);
    expect(d.level()).toBe(3);
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

describe("baselines", () => {
  test("a baseline written before the floors (no dmTail, no dmMax) runs with its thresholds as stored", () => {
    const b = baselineOf([LOAD], [0], [1]);
    expect(b.dmTail).toBeUndefined();
    expect(b.dmMax).toBeUndefined();
    const e = createEngine(b, defaultEngineConfig());
    expect(step(e, { t: 0, x: Float64Array.from([0]) }).thresholds).toEqual(TH);
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

describe("the refactorisation period (refactorEvery 0)", () => {
  /** The raw distances of `steps` calm samples through an engine of `n` dimensions whose baseline weighs `count`, every one learned. */
  function distances(n: number, count: number, refactorEvery: number, steps: number): number[] {
    const dims = Array.from({ length: n }, (_, j): DimensionSpec => ({ name: `d${j}`, unit: "1", loadSign: 1 }));
    const b = baselineOf(dims, new Array(n).fill(0), new Array(n).fill(1));
    b.count = count;
    b.thresholds = { theta1: 1e3, theta2: 2e3, theta3: 3e3, theta4: 4e3 };
    const e = createEngine(b, { ...defaultEngineConfig(), refactorEvery });
    const r = prng(11);
    const out: number[] = [];
    for (let i = 0; i <= steps; i++) {
      const x = new Float64Array(n);
      for (let j = 0; j < n; j++) x[j] = gaussian(r) + (j > 0 ? 0.5 * x[j - 1] : 0);
      const d = step(e, { t: i * 0.01, x });
      expect(d.learning).toBe(i > 0);
      out.push(d.dmRaw);
    }
    return out;
  }

  test("max(8, n) learned samples while young, longer as the weight grows (at most 1/256 of it), 64 at most", () => {
    // Young: the period stays max(8, n), as before.
    expect(distances(8, 1000, 0, 300)).toEqual(distances(8, 1000, 8, 300));
    expect(distances(32, 1000, 0, 300)).toEqual(distances(32, 1000, 32, 300));
    // W = 5000: ⌊5000/256⌋ = 19 samples (the weight reaches 5120, and the period 20, after 120).
    expect(distances(8, 5000, 0, 110)).toEqual(distances(8, 5000, 19, 110));
    // A long-learned baseline: 64.
    const old = distances(8, 1e6, 0, 300);
    expect(old).toEqual(distances(8, 1e6, 64, 300));
    expect(old).not.toEqual(distances(8, 1e6, 8, 300));
    expect(distances(32, 1e6, 0, 300)).toEqual(distances(32, 1e6, 64, 300));
  });

  test("the longer period lags no more than max(8, n) did for a young baseline: the raw distance within 1 % of refactorising at every sample", () => {
    // Samples whose covariance is not the baseline's (neighbours correlated by 0.5 against an identity): every learned sample moves Σ.
    const lag = (count: number, refactorEvery: number): number => {
      const every = distances(8, count, 1, 2000);
      const d = distances(8, count, refactorEvery, 2000);
      let worst = 0;
      for (let i = 0; i < every.length; i++) worst = Math.max(worst, Math.abs(d[i] / every[i] - 1));
      return worst;
    };
    // What the period of 8 always let through at W = 1000 (1.6 %).
    const young = lag(1000, 8);
    for (const count of [3000, 10_000, 30_000, 1e6]) {
      const byWeight = lag(count, 0);
      expect(byWeight).toBeLessThan(0.01);
      expect(byWeight).toBeLessThan(young);
      // ...and the period did lengthen: further from every sample than a period of 8 at the same weight.
      expect(byWeight).toBeGreaterThan(lag(count, 8));
    }
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
    expect(second.level).toBe(1);
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
      [
        "t",
        "level",
        "levelName",
        "previousLevel",
        "dmRaw",
        "dm",
        "dmDerivative",
        "dmAcceleration",
        "dmRising",
        "dmAccelerating",
        "phi",
        "regime",
        "dominant",
        "thresholds",
        "ttfS",
        "ttfDim",
        "dangerTtfS",
        "dangerCgroup",
        "dangerResource",
        "dangerEvidence",
        "containmentFailing",
        "dangerPending",
        "reason",
        "learning",
      ].sort(),
    );
    expect(x.dmRaw).toBeCloseTo(Math.sqrt(9 + 1 + 0.25), 12);
    expect(x.dm).toBe(x.dmRaw);
    expect(x.phi).toBeCloseTo((3 + 1 + 0) / Math.sqrt(3), 12);
    expect(x.dominant.map((c) => c.dim)).toEqual(["load", "free", "c"]);
    expect(x.dominant[0].share).toBeCloseTo(9 / 10.25, 12);
    expect(x.thresholds).toEqual(TH);
    expect(x.level).toBe(1);
    expect(x.regime).toBe(1); // above θ1; two samples are no significant slope
  });

  test("anomalous silence: demand collapses far below baseline (regime −3) and still escalates", () => {
    const b = baselineOf([LOAD, { name: "rx_packets_per_s", unit: "1/s", loadSign: 1 }], [0, 0], [1, 1]);
    const e = createEngine(b, exactConfig());
    step(e, { t: 0, x: Float64Array.from([0, 0]) });
    const x = step(e, { t: 1, x: Float64Array.from([-4, -4]) });
    expect(x.phi).toBeCloseTo(-8 / Math.SQRT2, 12);
    expect(x.regime).toBe(-3);
    expect(x.level).toBe(1);
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
  test("engineConfigFrom() takes the engine's settings and defaults the rest", () => {
    const c = defaultEngineSettings();
    const e = engineConfigFrom({ ...c, ewmaTauS: 0.5, holdS: [1, 2, 3, 4] });
    expect(e).toEqual({ ...defaultEngineConfig(), ewmaTauS: 0.5, holdS: [1, 2, 3, 4] });
    expect(engineConfigFrom(c)).toEqual(defaultEngineConfig());
  });

  test("engineConfigFrom() refuses thresholds that do not rise", () => {
    let err: unknown;
    try {
      engineConfigFrom({ ...defaultEngineSettings(), thresholdSigmas: [2, 2, 4, 5] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HosaError);
    expect((err as HosaError).exitCode).toBe(EXIT.CONFIG);
    expect((err as HosaError).message).toBe("cannot use [engine] configuration: threshold_sigmas must rise strictly, found [2, 2, 4, 5]");
    expect(() => engineConfigFrom({ ...defaultEngineSettings(), shrinkage: 2 })).toThrow("shrinkage must be within 0..1, found 2");
  });

  test("engineConfigFrom() takes escalate_after_s and hold_grace_s, and refuses a dwell that is not 5 non-negative numbers", () => {
    const c = defaultEngineSettings();
    const e = engineConfigFrom({ ...c, escalateAfterS: [0, 1, 2, 3, 4], holdGraceS: 0 });
    expect(e.escalateAfterS).toEqual([0, 1, 2, 3, 4]);
    expect(e.holdGraceS).toBe(0);
    expect(() => engineConfigFrom({ ...c, escalateAfterS: [0, 1, 2, 3] as unknown as [number, number, number, number, number] })).toThrow(
      "cannot use [engine] configuration: escalate_after_s must be 5 non-negative numbers",
    );
    expect(() => engineConfigFrom({ ...c, holdGraceS: -1 })).toThrow("hold_grace_s must be ≥ 0, found -1");
  });
});
