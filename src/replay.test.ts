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
