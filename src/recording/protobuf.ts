// Protobuf recordings: the 8 bytes "HOSAREC1", then varint-length-delimited
// messages: one Header, then SampleRecords (proto/recording.proto).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import type { DimensionSpec, Sample } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import { DangerRecordSchema, HeaderSchema, SampleRecordSchema, type DangerRecord, type Header } from "../gen/recording_pb.ts";
import type { Danger } from "../engine/types.ts";
import { excerpt } from "../util/input.ts";
import { MAX_DIMENSIONS } from "./csv.ts";
import type { RawRecording, RecordingHeader, RecordingNode, SampleCursor } from "./types.ts";

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

function varintSize(n: number): number {
  let k = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    k++;
  }
  return k;
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
  if (h.dimensions.length > MAX_DIMENSIONS) {
    throw new HosaError(`cannot read recording ${path}: record 1: ${h.dimensions.length} dimensions, more than the limit of ${MAX_DIMENSIONS}`, EXIT.INPUT);
  }
  const seen = new Set<string>();
  for (const [j, d] of h.dimensions.entries()) {
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$/.test(d.name) || seen.has(d.name)) {
      throw new HosaError(`cannot read recording ${path}: record 1: dimension ${j + 1} name "${excerpt(d.name)}" is not a dimension name, or appears twice`, EXIT.INPUT);
    }
    seen.add(d.name);
    for (const v of [d.capacity, d.noiseFloor, d.noiseFloorRel]) {
      if (!Number.isFinite(v)) throw new HosaError(`cannot read recording ${path}: record 1: dimension ${d.name}: a limit is not a finite number`, EXIT.INPUT);
    }
  }
  const dims: DimensionSpec[] = h.dimensions.map((d) => {
    const spec: DimensionSpec = { name: d.name, unit: d.unit, loadSign: Math.sign(d.loadSign) as 1 | -1 | 0 };
    if (d.capacity > 0) spec.capacity = d.capacity;
    if (d.propagation) spec.propagation = true;
    if (d.noiseFloor > 0) spec.noiseFloor = d.noiseFloor;
    if (d.noiseFloorRel > 0) spec.noiseFloorRel = d.noiseFloorRel;
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
  return { format: "protobuf", hosaVersion: h.hosaVersion, dims, node, startedUnixS: h.startedUnixS, ...(h.dangerRecorded ? { dangerRecorded: true } : {}) };
}

/** No danger, as a recording with danger_recorded says by leaving the field out. */
function noDanger(): Danger {
  return { ttfS: Number.POSITIVE_INFINITY, cgroup: null, resource: "", containmentFailing: false, evidence: "" };
}

function dangerFromProto(d: DangerRecord): Danger {
  return { ttfS: d.ttfS, cgroup: d.cgroup, resource: d.resource, containmentFailing: d.containmentFailing, evidence: d.evidence, ...(d.pending ? { pending: true } : {}) };
}

/** The host stores doubles little-endian, as protobuf does (x86-64, arm64): the bytes can be copied as they are. */
const HOST_LITTLE_ENDIAN = new Uint8Array(Float64Array.of(1).buffer)[7] === 0x3f;

/**
 * SampleRecord by hand: field 1 `t` (fixed64 double, tag 0x09) and field 2 `x`
 * (packed doubles, tag 0x12). This is the whole hot path of a replay, and the
 * generic decoder allocates per field. Anything unexpected returns null and
 * the generic decoder decides. The doubles are copied byte by byte into
 * `scratch` (bytes 0..7: t, then x) and read through `scratchF64`: JSC's
 * typed code for DataView.getFloat64 on the recording bailed out on about a
 * quarter of the samples here (a bailout each time, never recompiled).
 */
function decodeSampleFast(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  width: number,
  scratch: Uint8Array,
  scratchF64: Float64Array,
  into: Sample | null,
): Sample | null {
  // The record as the writer makes it (t, then x with a one-byte length, no
  // danger): straight reads at known offsets. DataView here, where the
  // offsets are plain sums of the record's start, has no bailouts (the loop
  // below had them with DataView, bench/RESULTS-footprint.md).
  const xLen = width * 8;
  if (end - start === 11 + xLen && xLen < 0x80 && bytes[start] === 0x09 && bytes[start + 9] === 0x12 && bytes[start + 10] === xLen) {
    // `into`: the reused sample of a reusing cursor (RecordingReader.cursor).
    const x = into === null ? new Float64Array(width) : into.x;
    const at = start + 11;
    for (let j = 0; j < width; j++) x[j] = view.getFloat64(at + 8 * j, true);
    for (let k = 0; k < 8; k++) scratch[k] = bytes[start + 1 + k]!;
    if (into === null) return { t: scratchF64[0]!, x };
    into.t = scratchF64[0]!;
    return into;
  }
  let p = start;
  let t = 0;
  let x: Float64Array | null = null;
  while (p < end) {
    const tag = bytes[p++];
    if (tag === 0x09) {
      if (p + 8 > end) return null;
      if (HOST_LITTLE_ENDIAN) {
        for (let k = 0; k < 8; k++) scratch[k] = bytes[p + k]!;
        t = scratchF64[0]!;
      } else t = view.getFloat64(p, true);
      p += 8;
    } else if (tag === 0x12) {
      // Up to 15 dimensions the length is one byte; longer ones through readVarint.
      let len: number;
      let next: number;
      if (p < end && bytes[p]! < 0x80) {
        len = bytes[p]!;
        next = p + 1;
      } else {
        const v = readVarint(bytes, p);
        if (!v) return null;
        [len, next] = v;
      }
      if (len !== width * 8 || next + len > end) return null;
      x = new Float64Array(width);
      if (HOST_LITTLE_ENDIAN) {
        for (let k = 0; k < len; k++) scratch[8 + k] = bytes[next + k]!;
        for (let j = 0; j < width; j++) x[j] = scratchF64[1 + j]!;
      } else for (let j = 0; j < width; j++) x[j] = view.getFloat64(next + j * 8, true);
      p = next + len;
    } else return null;
  }
  if (x === null) {
    if (width !== 0) return null;
    x = new Float64Array(0);
  }
  return { t, x };
}

/** Open a protobuf recording already read into memory, before the time rules (src/recording/time-rules.ts). */
export function openProtoRaw(path: string, bytes: Uint8Array): RawRecording {
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
    return fail(1, `not a valid header (${excerpt(String((e as Error).message), 120)})`);
  }
  const width = header.dims.length;
  const dataStart = hstart + hlen;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scratchF64 = new Float64Array(1 + width);
  const scratch = new Uint8Array(scratchF64.buffer);
  let record = 1;
  // One sample per call, in a plain function: a generator keeps every local
  // of its body in a heap frame, which made the loop below cost about a
  // microsecond a sample; the generator over it is one line.
  const cursor = (reuse = false): SampleCursor => {
    let p = dataStart;
    record = 1;
    // One sample handed out again and again (see RecordingReader.cursor);
    // the fast decoder fills it, the general one makes fresh ones.
    const shared: Sample | null = reuse ? { t: 0, x: new Float64Array(width) } : null;
    return {
      next(): Sample | null {
        if (p >= bytes.length) return null;
        record++;
        let len: number;
        let start: number;
        if (bytes[p]! < 0x80) {
          len = bytes[p]!;
          start = p + 1;
        } else {
          const v = readVarint(bytes, p);
          if (!v) fail(record, "length truncated");
          [len, start] = v!;
        }
        if (start + len > bytes.length) fail(record, "sample truncated");
        let rec = decodeSampleFast(bytes, view, start, start + len, width, scratch, scratchF64, shared);
        if (rec === null) rec = decodeSampleGeneric(bytes.subarray(start, start + len), record, width, header, fail);
        // The shared sample's danger is the last one's: a calm one each time (a danger record goes the general way).
        if (header.dangerRecorded && (!rec.danger || rec === shared)) rec.danger = noDanger();
        const x = rec.x;
        for (let j = 0; j < width; j++) if (!(x[j]! - x[j]! === 0)) fail(record, `value ${j + 1} (${header.dims[j]!.name}) is not a finite number`);
        p = start + len;
        return rec;
      },
    };
  };
  return {
    header,
    where: () => `record ${record}`,
    position: () => record,
    whereAt: (n) => `record ${n}`,
    cursor,
    *samples(): Generator<Sample> {
      const c = cursor();
      for (let s = c.next(); s !== null; s = c.next()) yield s;
    },
  };
}

/** A record the fast decoder declined (a danger field, an unusual encoding): the generic decoder decides. */
function decodeSampleGeneric(body: Uint8Array, record: number, width: number, header: RecordingHeader, fail: (record: number, what: string) => never): Sample {
  let generic;
  try {
    generic = fromBinary(SampleRecordSchema, body);
  } catch (e) {
    return fail(record, `not a valid sample (${excerpt(String((e as Error).message), 120)})`);
  }
  if (generic.x.length !== width) fail(record, `sample has ${generic.x.length} values, header names ${width} dimensions`);
  const rec: Sample = { t: generic.t, x: Float64Array.from(generic.x) };
  if (generic.danger && header.dangerRecorded) rec.danger = dangerFromProto(generic.danger);
  return rec;
}

/** Appends samples to a protobuf recording; flushes in blocks, fsync on close. */
export class ProtoRecordingWriter {
  private fd: number;
  private chunks: Uint8Array[] = [];
  private pending = 0;
  private readonly width: number;
  private readonly dangerRecorded: boolean;

  constructor(
    readonly path: string,
    header: Omit<RecordingHeader, "format">,
  ) {
    this.width = header.dims.length;
    this.dangerRecorded = header.dangerRecorded === true;
    this.fd = openSync(path, "w", 0o644);
    const h = create(HeaderSchema, {
      formatVersion: PROTO_FORMAT_VERSION,
      hosaVersion: header.hosaVersion,
      startedUnixS: header.startedUnixS,
      dangerRecorded: this.dangerRecorded,
      dimensions: header.dims.map((d) => ({
        name: d.name,
        unit: d.unit,
        loadSign: d.loadSign,
        capacity: d.capacity ?? 0,
        propagation: d.propagation ?? false,
        noiseFloor: d.noiseFloor ?? 0,
        noiseFloorRel: d.noiseFloorRel ?? 0,
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
    const len: number[] = [];
    writeVarint(msg.length, len);
    this.chunks.push(Uint8Array.from(len), msg);
    this.pending += len.length + msg.length;
  }

  write(sample: Sample): void {
    if (sample.x.length !== this.width) throw new HosaError(`cannot record to ${this.path}: sample has ${sample.x.length} values, expected ${this.width}`);
    // A plain encoding of SampleRecord (t always present), without the generic encoder's allocations.
    // The danger (field 3) only while a cgroup is in danger: rare, so the generic encoder.
    const dz = sample.danger;
    const danger =
      this.dangerRecorded && dz && dz.cgroup !== null
        ? toBinary(DangerRecordSchema, create(DangerRecordSchema, { ttfS: dz.ttfS, cgroup: dz.cgroup, resource: dz.resource, containmentFailing: dz.containmentFailing, evidence: dz.evidence, pending: dz.pending === true }))
        : null;
    const dangerLen: number[] = [];
    if (danger) writeVarint(danger.length, dangerLen);
    const body = 9 + (this.width > 0 ? 1 + varintSize(this.width * 8) + this.width * 8 : 0) + (danger ? 1 + dangerLen.length + danger.length : 0);
    const msg = new Uint8Array(body);
    const view = new DataView(msg.buffer);
    msg[0] = 0x09;
    view.setFloat64(1, sample.t, true);
    if (this.width > 0) {
      msg[9] = 0x12;
      const lenBytes: number[] = [];
      writeVarint(this.width * 8, lenBytes);
      msg.set(lenBytes, 10);
      let off = 10 + lenBytes.length;
      for (let j = 0; j < this.width; j++, off += 8) view.setFloat64(off, sample.x[j], true);
    }
    if (danger) {
      const off = body - danger.length - dangerLen.length - 1;
      msg[off] = 0x1a;
      msg.set(dangerLen, off + 1);
      msg.set(danger, off + 1 + dangerLen.length);
    }
    this.push(msg);
    if (this.pending > 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.pending === 0) return;
    const all = Buffer.concat(this.chunks, this.pending);
    let off = 0;
    while (off < all.length) off += writeSync(this.fd, all, off, all.length - off);
    this.chunks = [];
    this.pending = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
