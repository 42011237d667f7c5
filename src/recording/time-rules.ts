// Time in recordings, one rule for every format (docs/robustness.md §time):
// stamps are finite seconds since the epoch between 1970 and the year 9999;
// each is at or after the one before (equal stamps are accepted and counted);
// a stamp before the one ahead of it is refused, or with --unordered dropped
// or sorted, and counted.
import type { Sample } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import type { RawRecording, RecordingReader, RecordingStats, TimeOrder } from "./types.ts";

/** 9999-12-31T23:59:59Z: past it, a "timestamp" is a value in the wrong column or a corrupt cell. */
export const MAX_TIMESTAMP_S = 253402300799;

export function timestampRangeError(t: number): string | null {
  if (!Number.isFinite(t)) return "is not a finite number";
  if (t < 0) return "is before 1970 (negative seconds)";
  if (t > MAX_TIMESTAMP_S) return `is after the year 9999 (more than ${MAX_TIMESTAMP_S} s)`;
  return null;
}

function fmt(t: number): string {
  return Number.isInteger(t) ? String(t) : t.toFixed(6).replace(/0+$/, "");
}

/** Apply the time rules to a format reader's samples. */
export function withTimeRules(path: string, raw: RawRecording, order: TimeOrder, shownPath: string): RecordingReader {
  const stats: RecordingStats = { samples: 0, repeated: 0, dropped: 0, reordered: 0, firstOutOfOrder: null };
  const fail = (what: string): never => {
    throw new HosaError(`cannot read recording ${shownPath}: ${raw.where()}: ${what}`, EXIT.INPUT);
  };
  function* checked(): Generator<Sample> {
    let lastT = -Infinity;
    let lastWhere = "";
    // A number per sample rather than a string when the format can say where by number.
    const position = raw.position;
    const whereAt = raw.whereAt;
    let lastPosition = 0;
    for (const s of raw.samples()) {
      const bad = timestampRangeError(s.t);
      if (bad) fail(`timestamp ${fmt(s.t)} ${bad}`);
      if (s.t < lastT) {
        if (order === "strict") {
          const before = position && whereAt ? whereAt(lastPosition) : lastWhere;
          fail(`timestamp ${fmt(s.t)} goes backwards (${before} has ${fmt(lastT)}); --unordered drop or sort accepts a clock that steps back`);
        }
        if (stats.firstOutOfOrder === null) stats.firstOutOfOrder = raw.where();
        if (order === "drop") {
          stats.dropped++;
          continue;
        }
        stats.reordered++;
        yield s;
        continue;
      }
      if (s.t === lastT) stats.repeated++;
      lastT = s.t;
      if (position) lastPosition = position();
      else lastWhere = raw.where();
      yield s;
    }
  }
  function* samples(): Generator<Sample> {
    if (order !== "sort") {
      for (const s of checked()) {
        stats.samples++;
        yield s;
      }
      return;
    }
    const all = [...checked()];
    // Array.prototype.sort is stable: equal stamps keep the order they were recorded in.
    all.sort((a, b) => a.t - b.t);
    stats.repeated = 0;
    for (let i = 0; i < all.length; i++) {
      if (i > 0 && all[i]!.t === all[i - 1]!.t) stats.repeated++;
      stats.samples++;
      yield all[i]!;
    }
  }
  return { path, header: raw.header, stats, samples };
}
