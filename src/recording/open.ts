import type { DimensionSpec } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import { compression, decodeUtf8, INPUT_LIMITS, readInput, shownPath } from "../util/input.ts";
import { openCsvRaw } from "./csv.ts";
import { hasProtoMagic, openProtoRaw } from "./protobuf.ts";
import { withTimeRules } from "./time-rules.ts";
import type { RecordingReader, TimeOrder } from "./types.ts";

export interface OpenRecordingOptions {
  /** What to do with a clock that steps back (default "strict": refuse). */
  order?: TimeOrder;
  maxBytes?: number;
}

/** Open a recording, protobuf or CSV, by its content (not its name); "-" is standard input. */
export function openRecording(path: string, known: DimensionSpec[] = [], opts: OpenRecordingOptions = {}): RecordingReader {
  const shown = shownPath(path);
  const fail = (what: string): never => {
    throw new HosaError(`cannot read recording ${shown}: ${what}`, EXIT.INPUT);
  };
  const bytes = readInput(path, { action: "cannot read recording", maxBytes: opts.maxBytes ?? INPUT_LIMITS.recording });
  if (bytes.length === 0) fail("empty file");
  const order = opts.order ?? "strict";
  if (hasProtoMagic(bytes)) return withTimeRules(path, openProtoRaw(shown, bytes), order, shown);
  const packed = compression(bytes);
  if (packed) fail(`${packed}-compressed: decompress it first (e.g. zcat FILE | hosa replay -)`);
  // Anything else must be text: a NUL byte means an unknown binary format.
  const probe = bytes.subarray(0, Math.min(bytes.length, 4096));
  if (probe.includes(0)) fail(`not a hosa recording (neither protobuf "HOSAREC1" nor CSV)`);
  return withTimeRules(path, openCsvRaw(shown, decodeUtf8(bytes, fail), known), order, shown);
}
