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

/** A recording opened for streaming: the header, then samples one by one (each a fresh Sample). */
export interface RecordingReader {
  readonly path: string;
  readonly header: RecordingHeader;
  samples(): Generator<Sample>;
}
