// Protobuf recordings: the 8 bytes "HOSAREC1", then varint-length-delimited
// messages: one Header, then SampleRecords (proto/recording.proto).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import type { DimensionSpec, Sample } from "../engine/types.ts";
import { EXIT } from "../cli/exit-codes.ts";
import { HosaError } from "../errors.ts";
import { HeaderSchema, SampleRecordSchema, type Header } from "../gen/recording_pb.ts";
import type { RecordingHeader, RecordingNode, RecordingReader } from "./types.ts";

export const PROTO_MAGIC = "HOSAREC1";
export const PROTO_FORMAT_VERSION = 1;
const MAGIC_BYTES = new TextEncoder().encode(PROTO_MAGIC);

export function hasProtoMagic(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC_BYTES.length) return false;
  for (let i = 0; i < MAGIC_BYTES.length; i++) if (bytes[i] !== MAGIC_BYTES[i]) return false;
  return true;
}

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] | null {
  let value = 0;
  let shift = 0;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    const b = buf[i];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i + 1];
    shift += 7;
  }
  return null;
}

function writeVarint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function headerFromProto(h: Header, path: string): RecordingHeader {
  if (h.formatVersion !== PROTO_FORMAT_VERSION) {
    throw new HosaError(`cannot read recording ${path}: record 1: format version ${h.formatVersion} is not supported (expected ${PROTO_FORMAT_VERSION})`, EXIT.INPUT);
  }
  if (h.dimensions.length === 0) throw new HosaError(`cannot read recording ${path}: record 1: header names no dimensions`, EXIT.INPUT);
  const dims: DimensionSpec[] = h.dimensions.map((d) => {
    const spec: DimensionSpec = { name: d.name, unit: d.unit, loadSign: Math.sign(d.loadSign) as 1 | -1 | 0 };
    if (d.capacity > 0) spec.capacity = d.capacity;
    if (d.propagation) spec.propagation = true;
    return spec;
  });
  const n = h.node;
  const node: RecordingNode | null = n
    ? {
        hostname: n.hostname,
        kernel: n.kernel,
        cores: n.cores,
        memoryBytes: Number(n.memoryBytes),
        environmentClass: n.environmentClass,
        cgroupVersion: n.cgroupVersion,
      }
    : null;
  return { format: "protobuf", hosaVersion: h.hosaVersion, dims, node, startedUnixS: h.startedUnixS };
}

/** Open a protobuf recording already read into memory. */
export function openProtoRecording(path: string, bytes: Uint8Array): RecordingReader {
  const fail = (record: number, what: string): never => {
    throw new HosaError(`cannot read recording ${path}: record ${record}: ${what}`, EXIT.INPUT);
  };
  let pos = MAGIC_BYTES.length;
  const first = readVarint(bytes, pos);
  if (!first) fail(1, "missing header");
  const [hlen, hstart] = first!;
  if (hstart + hlen > bytes.length) fail(1, "header truncated");
  let header: RecordingHeader;
  try {
    header = headerFromProto(fromBinary(HeaderSchema, bytes.subarray(hstart, hstart + hlen)), path);
  } catch (e) {
    if (e instanceof HosaError) throw e;
    return fail(1, `not a valid header (${(e as Error).message})`);
  }
  const width = header.dims.length;
  const dataStart = hstart + hlen;
  return {
    path,
    header,
    *samples(): Generator<Sample> {
      let p = dataStart;
      let record = 1;
      let lastT = -Infinity;
      while (p < bytes.length) {
        record++;
        const v = readVarint(bytes, p);
        if (!v) fail(record, "length truncated");
        const [len, start] = v!;
        if (start + len > bytes.length) fail(record, "sample truncated");
        let rec;
        try {
          rec = fromBinary(SampleRecordSchema, bytes.subarray(start, start + len));
        } catch (e) {
          return fail(record, `not a valid sample (${(e as Error).message})`);
        }
        if (rec.x.length !== width) fail(record, `sample has ${rec.x.length} values, header names ${width} dimensions`);
        if (!Number.isFinite(rec.t)) fail(record, "timestamp is not a finite number");
        if (rec.t < lastT) fail(record, `timestamp ${rec.t} goes backwards (previous ${lastT})`);
        for (let j = 0; j < width; j++) if (!Number.isFinite(rec.x[j])) fail(record, `value of ${header.dims[j].name} is not finite`);
        lastT = rec.t;
        p = start + len;
        yield { t: rec.t, x: Float64Array.from(rec.x) };
      }
    },
  };
}

/** Appends samples to a protobuf recording; flushes in blocks, fsync on close. */
export class ProtoRecordingWriter {
  private fd: number;
  private buf: number[] = [];
  private readonly width: number;

  constructor(
    readonly path: string,
    header: Omit<RecordingHeader, "format">,
  ) {
    this.width = header.dims.length;
    this.fd = openSync(path, "w", 0o644);
    const h = create(HeaderSchema, {
      formatVersion: PROTO_FORMAT_VERSION,
      hosaVersion: header.hosaVersion,
      startedUnixS: header.startedUnixS,
      dimensions: header.dims.map((d) => ({
        name: d.name,
        unit: d.unit,
        loadSign: d.loadSign,
        capacity: d.capacity ?? 0,
        propagation: d.propagation ?? false,
      })),
      node: header.node
        ? { ...header.node, memoryBytes: BigInt(Math.round(header.node.memoryBytes)) }
        : undefined,
    });
    writeSync(this.fd, MAGIC_BYTES);
    this.push(toBinary(HeaderSchema, h));
    this.flush();
  }

  private push(msg: Uint8Array): void {
    writeVarint(msg.length, this.buf);
    for (let i = 0; i < msg.length; i++) this.buf.push(msg[i]);
  }

  write(sample: Sample): void {
    if (sample.x.length !== this.width) throw new HosaError(`cannot record to ${this.path}: sample has ${sample.x.length} values, expected ${this.width}`);
    this.push(toBinary(SampleRecordSchema, create(SampleRecordSchema, { t: sample.t, x: Array.from(sample.x) })));
    if (this.buf.length > 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, Uint8Array.from(this.buf));
    this.buf.length = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}

export function readFileBytes(path: string): Uint8Array {
  return readFileSync(path);
}
