// The engine on whole episodes of a synthetic 8-dimensional node: the memory
// leak of document 004 §13 (61% -> 64% in one second), contained, then
// repaired, judged end to end; its level changes are a golden file.
// Synthetic on purpose: a recording of a real leak is the replay tests' job;
// here every number is known and the episode is the same on every machine.
import { describe, expect, test } from "bun:test";
import { calibrate } from "../../src/engine/calibrate.ts";
import { createEngine, defaultEngineConfig, snapshotDecision, step } from "../../src/engine/engine.ts";
import type { Decision, Sample } from "../../src/engine/types.ts";
import { decisionFields } from "../../src/engine/fields.ts";
import { golden } from "../harness.ts";
import { NODE_DIMS as DIMS, Node } from "./node-model.ts";




interface Episode {
  changes: Decision[];
  all: Decision[];
  leakAt: number;
}

/**
 * 5 min calibration at 100 ms, 10 min of homeostasis, then the leak; the
 * agent ticks at 10 ms from Level 1 up. Containment (Level ≥ 3) slows the
 * leak to a plateau (the rate decays with a 3 s time constant, as under
 * memory.high reclaim); at leakAt + 60 s it is repaired.
 */
function leakEpisode(): Episode {
  const cfg = defaultEngineConfig();
  const node = new Node(2026);
  const cal: Sample[] = [];
  for (let i = 0; i < 3000; i++) cal.push(node.sample(i * 0.1));
  const baseline = calibrate(cal, DIMS, cfg);
  const e = createEngine(baseline, cfg);
  const changes: Decision[] = [];
  const all: Decision[] = [];
  const leakAt = 900;
  let t = 300;
  let level = 0;
  let containedAt = NaN;
  while (t < leakAt + 60 + 600) {
    t = Math.round((t + (level >= 1 ? 0.01 : 0.1)) * 1000) / 1000;
    if (t >= leakAt && level >= 3 && Number.isNaN(containedAt)) containedAt = t;
    if (t >= leakAt && t < leakAt + 60) node.leakRatePerS = Number.isNaN(containedAt) ? 0.03 : 0.03 * Math.exp(-(t - containedAt) / 3);
    if (t >= leakAt + 60) {
      node.leakRatePerS = 0;
      node.leaked = 0;
    }
    const d = step(e, node.sample(t));
    level = d.level;
    const snap = snapshotDecision(d);
    all.push(snap);
    if (d.level !== d.previousLevel) changes.push(snap);
  }
  return { changes, all, leakAt };
}

describe("memory leak episode", () => {
  const ep = leakEpisode();
  const after = (s: number) => ep.all.filter((d) => d.t >= ep.leakAt && d.t <= ep.leakAt + s);

  // Before the tail floors and the dwell, noise reached Level 2 four times
  // in these ten minutes (bench/engine-results.md); now at most vigilance.
  test("nothing above vigilance before the leak", () => {
    const before = ep.all.filter((d) => d.t < ep.leakAt);
    expect(Math.max(...before.map((d) => d.level))).toBeLessThanOrEqual(1);
  });

  // Document 004 §13: Level 1 at t≈1 s, Level 2 at t≈2 s; containment soon after.
  test("the leak's timeline: Level 1 within 1 s, Levels 2 and 3 within 2 s", () => {
    const first = (level: number) => ep.all.find((d) => d.t >= ep.leakAt && d.level >= level)!.t - ep.leakAt;
    expect(first(1)).toBeLessThan(1);
    expect(first(2)).toBeLessThan(2);
    expect(first(3)).toBeLessThan(2);
    expect(first(2)).toBeGreaterThanOrEqual(first(1));
  });

  test("the leak reaches active containment within 1 s, memory named as the cause", () => {
    const contained = ep.changes.find((d) => d.t >= ep.leakAt && d.level >= 3);
    expect(contained).toBeDefined();
    expect(contained!.t - ep.leakAt).toBeLessThan(1);
    expect(contained!.dominant[0].dim).toMatch(/^(mem_used_ratio|psi_mem_some_ratio|page_faults_per_s)$/);
    expect(contained!.regime).toBeGreaterThan(0);
    const oneSecondIn = after(1).pop()!;
    expect(oneSecondIn.phi).toBeGreaterThan(0);
    expect(contained!.reason).toMatch(/^Level \d → \d: /);
  });

  test("time-to-failure names memory while it is leaking", () => {
    const leaking = after(1.5).filter((d) => d.t > ep.leakAt + 0.5);
    expect(leaking.length).toBeGreaterThan(0);
    for (const d of leaking) {
      expect(d.ttfDim).toBe("mem_used_ratio");
      expect(Number.isFinite(d.ttfS)).toBe(true);
    }
  });

  test("no learning from the leak", () => {
    for (const d of ep.all.filter((x) => x.t >= ep.leakAt && x.level > 0)) expect(d.learning).toBe(false);
    // Not before the repair at leakAt + 60 s and the holds after it.
    expect(after(60).some((d) => d.learning)).toBe(false);
  });

  test("after the repair the levels come down one at a time, back to homeostasis", () => {
    const down = ep.changes.filter((d) => d.level < d.previousLevel);
    expect(down.length).toBeGreaterThan(0);
    for (const d of down) expect(d.previousLevel - d.level).toBe(1);
    expect(ep.all[ep.all.length - 1].level).toBe(0);
    expect(ep.changes.some((d) => d.level === 5)).toBe(false);
  });

  test("level changes match the golden decision file", () => {
    const text = ep.changes.map((d) => JSON.stringify(decisionFields(d))).join("\n") + "\n";
    expect(text).toBe(golden("engine-leak.decisions.jsonl", text));
  });
});

test("an hour of the correlated node at 10 ms ticks (vigilance rate) never reaches Level 2", () => {
  const cfg = defaultEngineConfig();
  const node = new Node(7);
  const cal: Sample[] = [];
  for (let i = 0; i < 3000; i++) cal.push(node.sample(i * 0.1));
  const e = createEngine(calibrate(cal, DIMS, cfg), cfg);
  let maxLevel = 0;
  for (let i = 1; i <= 360_000; i++) maxLevel = Math.max(maxLevel, step(e, node.sample(300 + i * 0.01)).level);
  expect(maxLevel).toBeLessThanOrEqual(1);
}, 60_000);

test("correlation matters: a load rise that moves CPU, faults and traffic together is nearer than CPU alone", () => {
  const cfg = defaultEngineConfig();
  const node = new Node(7);
  const cal: Sample[] = [];
  for (let i = 0; i < 3000; i++) cal.push(node.sample(i * 0.1));
  const baseline = calibrate(cal, DIMS, cfg);
  const m = baseline.mean;
  const together = Float64Array.from(m);
  together[0] += 0.04 * 2.5;
  together[3] += 0.01 * 2.5;
  together[4] += 300 * 2.5;
  together[6] += 800 * 2.5;
  const cpuAlone = Float64Array.from(m);
  cpuAlone[0] += 0.04 * 2.5;
  const a = step(createEngine(baseline, cfg), { t: 0, x: together }).dmRaw;
  const b = step(createEngine(baseline, cfg), { t: 0, x: cpuAlone }).dmRaw;
  expect(b).toBeGreaterThan(2 * a);
});
