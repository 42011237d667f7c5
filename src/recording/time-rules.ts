// Time in recordings, one rule for every format (docs/robustness.md §time):
// stamps are finite seconds since the epoch between 1970 and the year 9999;
// each is at or after the one before (equal stamps are accepted and counted);
// a stamp before the one ahead of it is refused, or with --unordered dropped
// or sorted, and counted.
import type { Sample } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import type { RawRecording, RecordingReader, RecordingStats, SampleCursor, TimeOrder } from "./types.ts";

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

/** A generator's samples as a cursor. */
function fromIterator(it: Iterator<Sample>): SampleCursor {
  return {
    next(): Sample | null {
      const r = it.next();
      return r.done ? null : r.value;
    },
  };
}

/** Apply the time rules to a format reader's samples. */
export function withTimeRules(path: string, raw: RawRecording, order: TimeOrder, shownPath: string): RecordingReader {
  const stats: RecordingStats = { samples: 0, repeated: 0, dropped: 0, reordered: 0, firstOutOfOrder: null };
  const fail = (what: string): never => {
    throw new HosaError(`cannot read recording ${shownPath}: ${raw.where()}: ${what}`, EXIT.INPUT);
  };
  // The rules as a cursor over the format's cursor (or its generator): plain
  // calls per sample, no generator frame (see src/recording/protobuf.ts).
  function checkedCursor(reuse: boolean): SampleCursor {
    const src: SampleCursor = raw.cursor ? raw.cursor(reuse) : fromIterator(raw.samples());
    let lastT = -Infinity;
    let lastWhere = "";
    // A number per sample rather than a string when the format can say where by number.
    const position = raw.position;
    const whereAt = raw.whereAt;
    let lastPosition = 0;
    return {
      next(): Sample | null {
        for (;;) {
          const s = src.next();
          if (s === null) return null;
          const t = s.t;
          if (!(t >= 0 && t <= MAX_TIMESTAMP_S)) fail(`timestamp ${fmt(t)} ${timestampRangeError(t)}`);
          if (t < lastT) {
            if (order === "strict") {
              const before = position && whereAt ? whereAt(lastPosition) : lastWhere;
              fail(`timestamp ${fmt(t)} goes backwards (${before} has ${fmt(lastT)}); --unordered drop or sort accepts a clock that steps back`);
            }
            if (stats.firstOutOfOrder === null) stats.firstOutOfOrder = raw.where();
            if (order === "drop") {
              stats.dropped++;
              continue;
            }
            stats.reordered++;
            return s;
          }
          if (t === lastT) stats.repeated++;
          lastT = t;
          if (position) lastPosition = position();
          else lastWhere = raw.where();
          return s;
        }
      },
    };
  }
  function cursor(reuse = false): SampleCursor {
    if (order !== "sort") {
      const c = checkedCursor(reuse);
      return {
        next(): Sample | null {
          const s = c.next();
          if (s !== null) stats.samples++;
          return s;
        },
      };
    }
    // Sorting keeps every sample: never a reused one.
    const all: Sample[] = [];
    const c = checkedCursor(false);
    for (let s = c.next(); s !== null; s = c.next()) all.push(s);
    // Array.prototype.sort is stable: equal stamps keep the order they were recorded in.
    all.sort((a, b) => a.t - b.t);
    stats.repeated = 0;
    let i = 0;
    return {
      next(): Sample | null {
        if (i >= all.length) return null;
        if (i > 0 && all[i]!.t === all[i - 1]!.t) stats.repeated++;
        stats.samples++;
        return all[i++]!;
      },
    };
  }
  function* samples(): Generator<Sample> {
    const c = cursor();
    for (let s = c.next(); s !== null; s = c.next()) yield s;
  }
  return { path, header: raw.header, stats, samples, cursor };
}
