import { existsSync, readFileSync, statSync } from "node:fs";
import type { DimensionSpec } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import { openCsvRecording } from "./csv.ts";
import { hasProtoMagic, openProtoRecording } from "./protobuf.ts";
import type { RecordingReader } from "./types.ts";

/** Open a recording, protobuf or CSV, by its content (not its name). */
export function openRecording(path: string, known: DimensionSpec[] = []): RecordingReader {
  if (!existsSync(path)) throw new HosaError(`cannot read recording ${path}: no such file`, EXIT.INPUT);
  if (statSync(path).isDirectory()) throw new HosaError(`cannot read recording ${path}: is a directory`, EXIT.INPUT);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new HosaError(`cannot read recording ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.INPUT);
  }
  if (bytes.length === 0) throw new HosaError(`cannot read recording ${path}: empty file`, EXIT.INPUT);
  if (hasProtoMagic(bytes)) return openProtoRecording(path, bytes);
  // Anything else must be text: a NUL byte means an unknown binary format.
  const probe = bytes.subarray(0, Math.min(bytes.length, 4096));
  if (probe.includes(0)) throw new HosaError(`cannot read recording ${path}: not a hosa recording (neither protobuf "HOSAREC1" nor CSV)`, EXIT.INPUT);
  return openCsvRecording(path, new TextDecoder().decode(bytes), known);
}
