// Time rules and value rules of recordings (docs/robustness.md), in process.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HosaError } from "../errors.ts";
import { openRecording, type OpenRecordingOptions } from "./open.ts";
import { ProtoRecordingWriter } from "./protobuf.ts";

const root = mkdtempSync(join(tmpdir(), `hosa-rec-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function file(content: string | Uint8Array): string {
  const p = join(root, `r${n++}`);
  writeFileSync(p, content);
  return p;
}

function read(content: string | Uint8Array, opts: OpenRecordingOptions = {}) {
  const r = openRecording(file(content), [], opts);
  const ts = [...r.samples()].map((s) => s.t);
  return { ts, stats: r.stats };
}

function refusal(content: string | Uint8Array, opts: OpenRecordingOptions = {}): string {
  const p = file(content);
  try {
    const r = openRecording(p, [], opts);
    for (const _ of r.samples());
  } catch (e) {
    if (!(e instanceof HosaError)) throw e;
    expect(e.exitCode).toBe(4);
    expect(e.message).toStartWith(`cannot read recording ${p}: `);
    return e.message.slice(`cannot read recording ${p}: `.length);
  }
  throw new Error("accepted");
}

describe("time in recordings", () => {
  test("equal stamps are accepted and counted (12 rows on one daylight-saving hour)", () => {
    let text = "timestamp,value\n2014-03-09T01:51:00Z,1\n2014-03-09T01:56:00Z,2\n";
    for (let i = 0; i < 12; i++) text += `2014-03-09T03:00:00Z,${i}\n`;
    text += "2014-03-09T03:06:00Z,3\n";
    const { ts, stats } = read(text);
    expect(ts).toHaveLength(15);
    expect(stats).toMatchObject({ samples: 15, repeated: 11, dropped: 0, reordered: 0 });
  });

  test("a stamp that goes backwards is refused with its line and the line it is behind", () => {
    expect(refusal("t,a\n1,1\n5,1\n3,1\n")).toBe("line 4: timestamp 3 goes backwards (line 3 has 5); --unordered drop or sort accepts a clock that steps back");
  });

  test("--unordered drop skips the samples behind, and counts them", () => {
    const { ts, stats } = read("t,a\n1,1\n5,1\n3,1\n4,1\n6,1\n", { order: "drop" });
    expect(ts).toEqual([1, 5, 6]);
    expect(stats).toMatchObject({ samples: 3, dropped: 2, firstOutOfOrder: "line 4" });
  });

  test("--unordered sort orders by time, stable for equal stamps, and counts what moved", () => {
    const { ts, stats } = read("t,a\n1,1\n5,1\n3,1\n5,2\n2,1\n", { order: "sort" });
    expect(ts).toEqual([1, 2, 3, 5, 5]);
    expect(stats).toMatchObject({ samples: 5, reordered: 2, repeated: 1, firstOutOfOrder: "line 4" });
  });

  test("impossible stamps are blamed on their own line", () => {
    expect(refusal("t,a\n2026-02-28T00:00:00Z,1\n2026-02-30T00:00:00Z,1\n")).toBe('line 3: timestamp "2026-02-30T00:00:00Z" is a date that does not exist');
    expect(refusal("t,a\n2026-01-01T24:00:00Z,1\n")).toBe('line 2: timestamp "2026-01-01T24:00:00Z" is a time of day that does not exist');
    expect(refusal("t,a\n2026-13-01,1\n")).toBe('line 2: timestamp "2026-13-01" has no such month');
    expect(refusal("t,a\n1,1\n1e300,1\n2,1\n")).toBe("line 3: timestamp 1e+300 is after the year 9999 (more than 253402300799 s)");
    expect(refusal("t,a\n-5,1\n")).toBe("line 2: timestamp -5 is before 1970 (negative seconds)");
    expect(refusal("t,a\n1e400,1\n")).toBe("line 2: timestamp Infinity is not a finite number");
  });

  test("formats are not mixed within one file", () => {
    expect(refusal("t,a\n1700000000,1\n2026-01-01T00:00:00Z,1\n")).toBe('line 3: timestamp "2026-01-01T00:00:00Z" is ISO-8601, the rows before are seconds');
  });

  test("a timestamp without a zone is UTC, whatever TZ says", () => {
    expect(read("t,a\n2026-01-01T00:00:00,1\n2026-01-01 00:00:01+01:00,1\n2026-01-01,1\n", { order: "sort" }).ts).toEqual([1767222001, 1767225600, 1767225600]);
  });

  test("protobuf recordings follow the same rules", () => {
    const p = join(root, "back.rec");
    const w = new ProtoRecordingWriter(p, { hosaVersion: "test", dims: [{ name: "a", unit: "", loadSign: 1 }], node: null, startedUnixS: 0 });
    for (const t of [1, 2, 2, 1.5, 3]) w.write({ t, x: new Float64Array([t]) });
    w.close();
    try {
      for (const _ of openRecording(p).samples());
      throw new Error("accepted");
    } catch (e) {
      expect((e as Error).message).toBe(`cannot read recording ${p}: record 5: timestamp 1.5 goes backwards (record 4 has 2); --unordered drop or sort accepts a clock that steps back`);
    }
    const r = openRecording(p, [], { order: "drop" });
    expect([...r.samples()].map((s) => s.t)).toEqual([1, 2, 2, 3]);
    expect(r.stats).toMatchObject({ dropped: 1, repeated: 1 });
  });
});

describe("values in recordings", () => {
  test("non-finite values are refused with line and column", () => {
    expect(refusal("t,a,b\n1,1,2\n2,3,1e999\n")).toBe('line 3: column 3: b "1e999" is not a finite number');
    expect(refusal("t,a,b\n1,Infinity,2\n")).toBe('line 2: column 2: a "Infinity" is not a number');
    expect(refusal("t,a,b\n1,NaN,2\n")).toBe('line 2: column 2: a "NaN" is not a number');
  });

  test("a huge cell is named by an excerpt, never echoed whole", () => {
    const msg = refusal(`t,a\n1,${"x".repeat(500_000)}\n`);
    expect(msg.length).toBeLessThan(120);
    expect(msg).toContain("… (500000 characters)");
  });

  test("control characters in a cell are escaped", () => {
    expect(refusal("t,a\n1,\u001b]0;pwned\u0007\n")).toBe('line 2: column 2: a "\\x1b]0;pwned\\x07" is not a number');
  });

  test("lines, widths and compressed files have limits and names", () => {
    expect(refusal(`t,a\n1,${"1".repeat(1 << 21)}\n`)).toBe(`line 2: longer than ${1 << 20} characters`);
    expect(refusal(`t,${Array.from({ length: 2000 }, (_, i) => `d${i}`).join(",")}\n`)).toBe("line 1: 2000 dimensions, more than the limit of 1024");
    expect(refusal(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]))).toBe("gzip-compressed: decompress it first (e.g. zcat FILE | hosa replay -)");
    expect(refusal(new Uint8Array([0x74, 0x2c, 0x61, 0x0a, 0x31, 0x2c, 0xff, 0x0a]))).toBe("line 2: not UTF-8 text");
  });
});
