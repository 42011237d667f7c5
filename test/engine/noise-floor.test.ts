import { describe, expect, test } from "bun:test";
import { Calibrator } from "../../src/engine/calibrate.ts";
import { createEngine, defaultEngineConfig, step } from "../../src/engine/engine.ts";
import type { DimensionSpec } from "../../src/engine/types.ts";
import { ALL_DIMENSIONS } from "../../src/sense/dimensions.ts";
import { prng } from "../prng.ts";

// An idle node: memory moves by a few hundred kilobytes while the baseline is
// learned. Then the agent itself (or a cron job) takes 8 MiB more.
function idleThenShift(dims: DimensionSpec[], shiftBytes: number) {
  const cfg = defaultEngineConfig();
  const r = prng(3);
  const cal = new Calibrator(dims, cfg);
  const mem = 6e9;
  let t = 0;
  for (let i = 0; i < 600; i++, t += 0.1) cal.add({ t, x: Float64Array.from([mem + (r() - 0.5) * 4e5, 900 + (r() - 0.5) * 4]) });
  const engine = createEngine(cal.finish(), cfg);
  let maxLevel = 0;
  let maxDm = 0;
  for (let i = 0; i < 200; i++, t += 0.1) {
    const d = step(engine, { t, x: Float64Array.from([mem + shiftBytes + (r() - 0.5) * 4e5, 900 + (r() - 0.5) * 4]) });
    maxLevel = Math.max(maxLevel, d.level);
    maxDm = Math.max(maxDm, d.dmRaw);
  }
  return { maxLevel, maxDm };
}

describe("per-dimension noise floors", () => {
  const bare: DimensionSpec[] = [
    { name: "mem_used_bytes", unit: "bytes", loadSign: 1 },
    { name: "page_faults_per_s", unit: "1/s", loadSign: 1 },
  ];
  const floored: DimensionSpec[] = bare.map((d) => ({ ...d, noiseFloor: d.unit === "bytes" ? 32 * 2 ** 20 : 20, noiseFloorRel: 0.005 }));

  test("without a floor, 8 MiB on an idle node reads as a large surprise (Level 2: no danger, so no higher)", () => {
    const r = idleThenShift(bare, 8 * 2 ** 20);
    expect(r.maxDm).toBeGreaterThan(50);
    expect(r.maxLevel).toBe(2);
  });

  test("with the floor, the same 8 MiB stays in homeostasis", () => {
    const r = idleThenShift(floored, 8 * 2 ** 20);
    expect(r.maxDm).toBeLessThan(3);
    expect(r.maxLevel).toBe(0);
  });

  test("with the floor, a real leak (1.5 GiB) is still far out (Level 2 on surprise alone)", () => {
    const r = idleThenShift(floored, 1.5 * 2 ** 30);
    expect(r.maxDm).toBeGreaterThan(20);
    expect(r.maxLevel).toBe(2);
  });

  test("hosa's own dimensions carry floors by unit", () => {
    for (const d of ALL_DIMENSIONS) expect(d.noiseFloor).toBeGreaterThan(0);
    expect(ALL_DIMENSIONS.find((d) => d.name === "cpu_busy_ratio")?.noiseFloor).toBe(0.01);
  });
});
