import type { DimensionSpec, Sample } from "../engine/types.ts";

export interface RecordingNode {
  hostname: string;
  kernel: string;
  cores: number;
  memoryBytes: number;
  environmentClass: string;
  cgroupVersion: string;
}

export interface RecordingHeader {
  format: "protobuf" | "csv";
  hosaVersion: string;
  dims: DimensionSpec[];
  node: RecordingNode | null;
  startedUnixS: number;
  /** Samples carry the danger measured live (absent in recordings without it). */
  dangerRecorded?: boolean;
}

/**
 * What to do with a sample stamped before the one ahead of it (docs/robustness.md):
 * "strict" refuses the recording naming the line, "drop" skips such samples,
 * "sort" orders the whole recording by time (stable, so equal stamps keep their order).
 */
export type TimeOrder = "strict" | "drop" | "sort";
export const TIME_ORDERS: readonly TimeOrder[] = ["strict", "drop", "sort"];

/** Counted while the samples are read; complete once samples() is exhausted. */
export interface RecordingStats {
  samples: number;
  /** Samples with the same timestamp as the one before (accepted: a daylight-saving repeat, a coarse clock). */
  repeated: number;
  /** "drop": samples skipped because their clock stepped back. */
  dropped: number;
  /** "sort": samples that were out of order and moved. */
  reordered: number;
  /** Where the first dropped or moved sample was ("line 17", "record 9"). */
  firstOutOfOrder: string | null;
}

/** A recording opened for streaming: the header, then samples one by one (each a fresh Sample). */
export interface RecordingReader {
  readonly path: string;
  readonly header: RecordingHeader;
  readonly stats: RecordingStats;
  samples(): Generator<Sample>;
  /**
   * The same samples through a plain cursor (cheaper per sample than a
   * generator); optional. With `reuse`, a format may hand out one Sample
   * (and its x) again and again, overwritten at each next(): for a caller
   * done with each sample before asking for the next (replayEach), so a
   * million samples allocate nothing.
   */
  cursor?(reuse?: boolean): SampleCursor;
}

/** Samples one by one without a generator: null at the end. */
export interface SampleCursor {
  next(): Sample | null;
}

/** What a format reader gives the shared time rules (src/recording/time-rules.ts): samples, and where the last one came from. */
export interface RawRecording {
  readonly header: RecordingHeader;
  samples(): Generator<Sample>;
  /** The same samples as samples(), from the start, through a plain cursor (cheaper per sample than a generator); optional; `reuse` as in RecordingReader.cursor. */
  cursor?(reuse?: boolean): SampleCursor;
  /** Where the sample last yielded is: "line 12" (CSV), "record 7" (protobuf). */
  where(): string;
  /** Where the sample last yielded is, as a number whereAt() turns into where()'s words: kept per sample without building a string. */
  position?(): number;
  whereAt?(position: number): string;
}
