// Replay: a recording through the same engine the agent runs. Shared by
// `hosa replay`, `hosa calibrate --from`, the golden tests and bench/.
import type { Baseline, Decision, Sample } from "./engine/types.ts";
import { Calibrator } from "./engine/calibrate.ts";
import { createEngine, step, type EngineConfig } from "./engine/engine.ts";
import { EXIT, HosaError } from "./errors.ts";
import type { RecordingReader } from "./recording/types.ts";

/** Learn a baseline from the first `spanS` seconds of a recording (all of it when spanS is Infinity). */
export function calibrateFromRecording(
  reader: RecordingReader,
  cfg: EngineConfig,
  spanS: number,
): { baseline: Baseline; spanS: number; count: number } {
  const cal = new Calibrator(reader.header.dims, cfg);
  let t0 = NaN;
  let tLast = NaN;
  for (const s of reader.samples()) {
    if (Number.isNaN(t0)) t0 = s.t;
    if (s.t - t0 >= spanS) break;
    cal.add(s);
    tLast = s.t;
  }
  if (cal.count < 2) throw new HosaError(`cannot calibrate from ${reader.path}: it holds fewer than 2 samples`, EXIT.INPUT);
  return { baseline: cal.finish(), spanS: tLast - t0, count: cal.count };
}

export interface ReplayStep {
  sample: Sample;
  decision: Decision;
}

/**
 * Run a recording through the engine. Without a baseline the first
 * `calibrationS` seconds are learned first and the rest is judged.
 * The yielded decision is owned by the engine and changes at the next step.
 */
export function* replay(
  reader: RecordingReader,
  cfg: EngineConfig,
  baseline: Baseline | null,
  calibrationS: number,
): Generator<ReplayStep, void, undefined> {
  let it = reader.samples();
  let pending: Sample | undefined;
  if (!baseline) {
    const cal = new Calibrator(reader.header.dims, cfg);
    let t0 = NaN;
    for (;;) {
      const r = it.next();
      if (r.done) break;
      if (Number.isNaN(t0)) t0 = r.value.t;
      if (r.value.t - t0 >= calibrationS) {
        pending = r.value;
        break;
      }
      cal.add(r.value);
    }
    if (!pending) {
      throw new HosaError(
        `cannot replay ${reader.path}: it holds less than the ${calibrationS} s calibration window; pass --baseline or a shorter --calibrate`,
        EXIT.INPUT,
      );
    }
    if (cal.count < 2) throw new HosaError(`cannot replay ${reader.path}: fewer than 2 samples in the calibration window`, EXIT.INPUT);
    baseline = cal.finish();
  }
  const state = createEngine(baseline, cfg);
  if (pending) yield { sample: pending, decision: step(state, pending) };
  for (const s of it) yield { sample: s, decision: step(state, s) };
  it = undefined as never;
}
