// CSV recordings: a header row, the first column a timestamp (seconds or
// ISO-8601), the rest numeric dimensions named by the header.
import { writeSync, openSync, closeSync, fsyncSync } from "node:fs";
import type { DimensionSpec, Sample } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import { excerpt } from "../util/input.ts";
import type { RawRecording } from "./types.ts";

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-](\d{2}):?(\d{2}))?)?$/;

/** Longest line read, in characters: past it the file is not a recording (or is an attack on memory). */
export const MAX_LINE_CHARS = 1 << 20;
/** Most dimensions a recording may have: the covariance is n² doubles (1024 → 8 MiB). */
export const MAX_DIMENSIONS = 1024;

type TimeKind = "seconds" | "ISO-8601";

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A timestamp cell as seconds, or why it is not one. ISO-8601 without a zone is UTC, so a replay does not depend on TZ. */
function parseTime(cell: string): { t: number; kind: TimeKind } | string {
  if (NUMBER.test(cell)) return { t: Number(cell), kind: "seconds" };
  const m = ISO.exec(cell);
  if (!m) return "is neither seconds nor ISO-8601";
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = "", zone, zh = "0", zm = "0"] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12) return "has no such month";
  if (day < 1 || day > daysIn(year, month)) return "is a date that does not exist";
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return "is a time of day that does not exist";
  if (Number(zh) > 23 || Number(zm) > 59) return "has an impossible UTC offset";
  let ms = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(sec));
  if (year < 100) ms = new Date(ms).setUTCFullYear(year);
  let t = ms / 1000 + (frac ? Number(`0${frac}`) : 0);
  if (zone && zone !== "Z") t -= (zone[0] === "-" ? -1 : 1) * (Number(zh) * 3600 + Number(zm) * 60);
  return { t, kind: "ISO-8601" };
}

function splitRow(line: string): string[] {
  const cells = line.split(",");
  for (let i = 0; i < cells.length; i++) {
    let c = cells[i]!.trim();
    if (c.length >= 2 && c.startsWith('"') && c.endsWith('"')) c = c.slice(1, -1);
    cells[i] = c;
  }
  return cells;
}

/** Open a CSV recording held in memory, before the time rules (src/recording/time-rules.ts). */
export function openCsvRaw(shownPath: string, text: string, known: DimensionSpec[] = []): RawRecording {
  let line = 1;
  const fail = (what: string): never => {
    throw new HosaError(`cannot read recording ${shownPath}: line ${line}: ${what}`, EXIT.INPUT);
  };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstNl = text.indexOf("\n");
  const headerEnd = firstNl < 0 ? text.length : firstNl;
  if (headerEnd > MAX_LINE_CHARS) fail(`header longer than ${MAX_LINE_CHARS} characters`);
  const headerLine = text.slice(0, headerEnd).replace(/\r$/, "");
  if (headerLine.trim() === "") fail("empty file: expected a header row (timestamp, then dimension names)");
  const names = splitRow(headerLine);
  if (names.length < 2) fail("header names no dimension after the timestamp column");
  if (names.length - 1 > MAX_DIMENSIONS) fail(`${names.length - 1} dimensions, more than the limit of ${MAX_DIMENSIONS}`);
  if (NUMBER.test(names[1]!)) fail("first row is data, not a header row");
  const seen = new Set<string>();
  for (let j = 1; j < names.length; j++) {
    const n = names[j]!;
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(n)) fail(`column ${j + 1} header "${excerpt(n)}" is not a dimension name`);
    if (n.length > 200) fail(`column ${j + 1} header "${excerpt(n)}" is longer than 200 characters`);
    if (seen.has(n)) fail(`dimension "${n}" appears twice`);
    seen.add(n);
  }
  const byName = new Map(known.map((d) => [d.name, d]));
  const dims: DimensionSpec[] = names.slice(1).map((n) => byName.get(n) ?? { name: n, unit: "", loadSign: 1 });
  const width = dims.length;
  const body = firstNl < 0 ? "" : text.slice(firstNl + 1);
  let startedUnixS = NaN;
  return {
    header: {
      format: "csv",
      hosaVersion: "",
      dims,
      node: null,
      get startedUnixS() {
        return startedUnixS;
      },
    },
    where: () => `line ${line}`,
    *samples(): Generator<Sample> {
      let pos = 0;
      line = 1;
      let count = 0;
      let kind: TimeKind | null = null;
      while (pos < body.length) {
        let end = body.indexOf("\n", pos);
        if (end < 0) end = body.length;
        line++;
        if (end - pos > MAX_LINE_CHARS) fail(`longer than ${MAX_LINE_CHARS} characters`);
        let raw = body.slice(pos, end);
        pos = end + 1;
        if (raw.endsWith("\r")) raw = raw.slice(0, -1);
        if (raw.trim() === "") continue;
        const cells = splitRow(raw);
        if (cells.length !== width + 1) fail(`${cells.length} column${cells.length === 1 ? "" : "s"}, header has ${width + 1}`);
        const parsed = parseTime(cells[0]!);
        if (typeof parsed === "string") fail(`timestamp "${excerpt(cells[0]!)}" ${parsed}`);
        const { t, kind: k } = parsed as { t: number; kind: TimeKind };
        if (kind === null) kind = k;
        else if (k !== kind) fail(`timestamp "${excerpt(cells[0]!)}" is ${k}, the rows before are ${kind}`);
        const x = new Float64Array(width);
        for (let j = 0; j < width; j++) {
          const c = cells[j + 1]!;
          const v = Number(c);
          // Number() also takes "", " ", "0x10" and "Infinity": only then ask the strict pattern.
          if (!(Number.isFinite(v) && c.length > 0 && c.charCodeAt(c.length - 1) <= 57 && !/[xXoObB]/.test(c))) {
            if (!NUMBER.test(c)) fail(`column ${j + 2}: ${dims[j]!.name} "${excerpt(c)}" is not a number`);
            if (!Number.isFinite(v)) fail(`column ${j + 2}: ${dims[j]!.name} "${excerpt(c)}" is not a finite number`);
          }
          x[j] = v;
        }
        if (count === 0) startedUnixS = t;
        count++;
        yield { t, x };
      }
      if (count === 0) fail("no samples after the header row");
    },
  };
}

/** Writes samples as CSV (used by tests and benchmarks to make recordings). */
export class CsvRecordingWriter {
  private fd: number;
  private chunk = "";
  constructor(
    readonly path: string,
    dims: DimensionSpec[],
  ) {
    this.fd = openSync(path, "w", 0o644);
    this.chunk = `t,${dims.map((d) => d.name).join(",")}\n`;
  }
  write(s: Sample): void {
    let row = String(s.t);
    for (let j = 0; j < s.x.length; j++) row += `,${s.x[j]}`;
    this.chunk += `${row}\n`;
    if (this.chunk.length > 1 << 20) this.flush();
  }
  flush(): void {
    if (this.chunk) writeSync(this.fd, this.chunk);
    this.chunk = "";
  }
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
