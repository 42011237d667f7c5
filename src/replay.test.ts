import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Calibrator } from "./engine/calibrate.ts";
import { createEngine, defaultEngineConfig, step } from "./engine/engine.ts";
import type { Baseline, Decision, Sample } from "./engine/types.ts";
import { CsvRecordingWriter } from "./recording/csv.ts";
import { knownDimensions } from "./recording/known-dims.ts";
import { openRecording } from "./recording/open.ts";
import { decisionFields } from "./engine/fields.ts";
import { calibrateFromRecording, replay } from "./replay.ts";
import { tempDir } from "../test/harness.ts";
import { leakRecording, synthDims } from "../test/recordings/synthetic.ts";

const STORY = { seed: 3, calmS: 200, leakS: 20, afterS: 100, tickS: 0.1, leakMBps: 50 };

function withRecording<T>(f: (path: string, samples: Sample[]) => T): T {
  const tmp = tempDir();
  try {
    const path = join(tmp.dir, "r.csv");
    const w = new CsvRecordingWriter(path, synthDims());
    const samples: Sample[] = [];
    for (const s of leakRecording(STORY)) {
      w.write(s);
      samples.push({ t: s.t, x: Float64Array.from(s.x) });
    }
    w.close();
    return f(path, samples);
  } finally {
    tmp.cleanup();
  }
}

const lines = (ds: Iterable<{ decision: Decision }>) => Array.from(ds, (d) => JSON.stringify(decisionFields(d.decision)));

describe("replay", () => {
  test("without a baseline it is the agent's warm-up exactly: learn until a sample calibrationS after the first (included), then judge and learn", () => {
    withRecording((path, samples) => {
      const cfg = defaultEngineConfig();
      // The agent's loop (src/agent.ts), on the samples as the CSV gives them back.
      const back = Array.from(openRecording(path, knownDimensions()).samples(), (s) => ({ t: s.t, x: Float64Array.from(s.x) }));
      expect(back.length).toBe(samples.length);
      const cal = new Calibrator(synthDims(), cfg);
      let engine = null;
      let warmupStart = NaN;
      const live: string[] = [];
      for (const s of back) {
        if (engine === null) {
          cal.add(s);
          if (Number.isNaN(warmupStart)) warmupStart = s.t;
          if (s.t - warmupStart >= 120 && cal.count >= 2) engine = createEngine(cal.finish(), cfg);
        } else live.push(JSON.stringify(decisionFields(step(engine, s))));
      }
      const replayed = lines(replay(openRecording(path, knownDimensions()), cfg, null, 120));
      expect(replayed.length).toBe(live.length);
      expect(replayed.join("\n")).toBe(live.join("\n"));
      expect(replayed.some((l) => JSON.parse(l).learning)).toBe(true);
    });
  });

  test("with a baseline it judges without learning, unless asked to learn", () => {
    withRecording((path) => {
      const cfg = defaultEngineConfig();
      const { baseline } = calibrateFromRecording(openRecording(path, knownDimensions()), cfg, 150);
      const fixed = Array.from(replay(openRecording(path, knownDimensions()), cfg, baseline as Baseline, 0), (r) => r.decision.learning);
      expect(fixed.some(Boolean)).toBe(false);
      const learning = Array.from(replay(openRecording(path, knownDimensions()), cfg, baseline, 0, true), (r) => r.decision.learning);
      expect(learning.some(Boolean)).toBe(true);
    });
  });
});

describe("a baseline file carries ζ1", () => {
  test("saved and loaded as it was; a ζ1 that is not a positive number is refused in one line", async () => {
    const { saveBaseline, loadBaseline } = await import("./baseline-file.ts");
    const { HosaError } = await import("./errors.ts");
    const tmp = tempDir("hosa-zeta-");
    try {
      const cal = new Calibrator(
        Array.from({ length: 4 }, (_, j) => ({ name: `d${j}`, unit: "1", loadSign: 1 as const })),
        defaultEngineConfig(),
      );
      let s = 7;
      for (let i = 0; i < 3000; i++) {
        const x = new Float64Array(4);
        for (let j = 0; j < 4; j++) {
          s = (s * 1103515245 + 12345) % 2147483648;
          x[j] = s / 2147483648;
        }
        cal.add({ t: i * 0.1, x });
      }
      const b = cal.finish();
      expect(b.dimZeta1).toBeGreaterThanOrEqual(3);
      const path = join(tmp.dir, "b.json");
      saveBaseline(path, b, "test", 300, "2026-01-01T00:00:00Z");
      expect(loadBaseline(path).baseline.dimZeta1).toBe(b.dimZeta1!);
      saveBaseline(path, { ...b, dimZeta1: -1 }, "test", 300, "2026-01-01T00:00:00Z");
      let err: unknown;
      try {
        loadBaseline(path);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HosaError);
      expect((err as Error).message).toContain('"dimZeta1" must be a positive number, found -1');
      // θ1s (the spike path) round-trips and is checked the same way.
      expect(b.dmSpike1).toBeGreaterThanOrEqual(b.thresholds.theta4);
      saveBaseline(path, b, "test", 300, "2026-01-01T00:00:00Z");
      expect(loadBaseline(path).baseline.dmSpike1).toBe(b.dmSpike1!);
      saveBaseline(path, { ...b, dmSpike1: 0 }, "test", 300, "2026-01-01T00:00:00Z");
      err = undefined;
      try {
        loadBaseline(path);
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).toContain('"dmSpike1" must be a positive number, found 0');
    } finally {
      tmp.cleanup();
    }
  });
});
