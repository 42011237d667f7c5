// Replay: a recording through the same engine the agent runs. Shared by
// `hosa replay`, `hosa calibrate --from`, the golden tests and bench/.
import type { Baseline, Decision, Sample } from "./engine/types.ts";
import { Calibrator } from "./engine/calibrate.ts";
import { createEngine, step, type EngineConfig, type EngineState } from "./engine/engine.ts";
import { EXIT, HosaError } from "./errors.ts";
import type { RecordingReader, SampleCursor } from "./recording/types.ts";

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
 * Run a recording through the engine. Without a baseline the agent's
 * warm-up is replayed exactly (src/agent.ts): every sample is learned until
 * one lies `calibrationS` seconds after the first, that one included, and
 * the engine judges from the next sample on, learning in homeostasis as the
 * agent does. With a baseline the engine judges with it as it is, unless
 * `learn` asks it to keep learning (to reproduce an agent that started from
 * that baseline file). The yielded decision is owned by the engine and
 * changes at the next step.
 */
export function* replay(
  reader: RecordingReader,
  cfg: EngineConfig,
  baseline: Baseline | null,
  calibrationS: number,
  learn = false,
): Generator<ReplayStep, void, undefined> {
  const { state, it } = start(reader, cfg, baseline, calibrationS, learn, false);
  for (let s = it.next(); s !== null; s = it.next()) yield { sample: s, decision: step(state, s) };
}

/**
 * replay() as a loop calling `each` per judged sample (same decisions):
 * no generator frame to resume and no object per sample, for `hosa replay`
 * over millions of samples. The decision is the engine's and changes at the
 * next call; so does the sample (the reader may reuse one, see
 * RecordingReader.cursor): copy what must outlive the call.
 */
export function replayEach(
  reader: RecordingReader,
  cfg: EngineConfig,
  baseline: Baseline | null,
  calibrationS: number,
  learn: boolean,
  each: (decision: Decision, sample: Sample) => void,
): void {
  const { state, it } = start(reader, cfg, baseline, calibrationS, learn, true);
  for (let s = it.next(); s !== null; s = it.next()) each(step(state, s), s);
}

/** The engine ready to judge, and the cursor at the first sample to judge. */
function start(
  reader: RecordingReader,
  cfg: EngineConfig,
  baseline: Baseline | null,
  calibrationS: number,
  learn: boolean,
  reuse: boolean,
): { state: EngineState; it: SampleCursor } {
  // A plain cursor when the reader has one (one call per sample instead of a
  // generator's resume), reusing its sample when the caller allows (the
  // calibration copies what it keeps).
  const it: SampleCursor = reader.cursor ? reader.cursor(reuse) : cursorOf(reader.samples());
  if (!baseline) {
    const cal = new Calibrator(reader.header.dims, cfg);
    let t0 = NaN;
    for (;;) {
      const s = it.next();
      if (s === null) break;
      cal.add(s);
      if (Number.isNaN(t0)) t0 = s.t;
      if (s.t - t0 >= calibrationS && cal.count >= 2) {
        baseline = cal.finish();
        break;
      }
    }
    if (!baseline) {
      throw new HosaError(
        `cannot replay ${reader.path}: it holds less than the ${calibrationS} s calibration window; pass --baseline or a shorter --calibrate`,
        EXIT.INPUT,
      );
    }
    learn = cfg.learn;
  }
  return { state: createEngine(baseline, { ...cfg, learn }), it };
}

function cursorOf(g: Iterator<Sample>): SampleCursor {
  return {
    next(): Sample | null {
      const r = g.next();
      return r.done ? null : r.value;
    },
  };
}
