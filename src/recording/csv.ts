// CSV recordings: a header row, the first column a timestamp (seconds or
// ISO-8601), the rest numeric dimensions named by the header.
import { writeSync, openSync, closeSync, fsyncSync } from "node:fs";
import type { DimensionSpec, Sample } from "../engine/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import type { RecordingReader } from "./types.ts";

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseTime(cell: string): number {
  if (NUMBER.test(cell)) return Number(cell);
  // ISO-8601 only: a date, then optionally a time; Date.parse alone accepts too much.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(cell)) {
    const ms = Date.parse(cell.replace(" ", "T"));
    if (Number.isFinite(ms)) return ms / 1000;
  }
  return NaN;
}

function splitRow(line: string): string[] {
  const cells = line.split(",");
  for (let i = 0; i < cells.length; i++) {
    let c = cells[i].trim();
    if (c.length >= 2 && c.startsWith('"') && c.endsWith('"')) c = c.slice(1, -1);
    cells[i] = c;
  }
  return cells;
}

/** Open a CSV recording held in memory. `known` gives units and load signs to dimensions it names. */
export function openCsvRecording(path: string, text: string, known: DimensionSpec[] = []): RecordingReader {
  const fail = (line: number, what: string): never => {
    throw new HosaError(`cannot read recording ${path}: line ${line}: ${what}`, EXIT.INPUT);
  };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstNl = text.indexOf("\n");
  const headerLine = (firstNl < 0 ? text : text.slice(0, firstNl)).replace(/\r$/, "");
  if (headerLine.trim() === "") fail(1, "empty file: expected a header row (timestamp, then dimension names)");
  const names = splitRow(headerLine);
  if (names.length < 2) fail(1, "header names no dimension after the timestamp column");
  const seen = new Set<string>();
  for (let j = 1; j < names.length; j++) {
    const n = names[j];
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(n)) fail(1, `column ${j + 1} header "${n}" is not a dimension name`);
    if (seen.has(n)) fail(1, `dimension "${n}" appears twice`);
    seen.add(n);
  }
  if (NUMBER.test(names[1])) fail(1, "first row is data, not a header row");
  const byName = new Map(known.map((d) => [d.name, d]));
  const dims: DimensionSpec[] = names.slice(1).map((n) => byName.get(n) ?? { name: n, unit: "", loadSign: 1 });
  const width = dims.length;
  const body = firstNl < 0 ? "" : text.slice(firstNl + 1);
  let startedUnixS = NaN;
  return {
    path,
    header: {
      format: "csv",
      hosaVersion: "",
      dims,
      node: null,
      get startedUnixS() {
        return startedUnixS;
      },
    },
    *samples(): Generator<Sample> {
      let pos = 0;
      let line = 1;
      let lastT = -Infinity;
      let count = 0;
      while (pos < body.length) {
        let end = body.indexOf("\n", pos);
        if (end < 0) end = body.length;
        line++;
        let raw = body.slice(pos, end);
        pos = end + 1;
        if (raw.endsWith("\r")) raw = raw.slice(0, -1);
        if (raw.trim() === "") continue;
        const cells = splitRow(raw);
        if (cells.length !== width + 1) fail(line, `${cells.length} columns, header has ${width + 1}`);
        const t = parseTime(cells[0]);
        if (!Number.isFinite(t)) fail(line, `timestamp "${cells[0]}" is neither seconds nor ISO-8601`);
        if (t < lastT) fail(line, `timestamp ${cells[0]} goes backwards`);
        const x = new Float64Array(width);
        for (let j = 0; j < width; j++) {
          const c = cells[j + 1];
          const v = Number(c);
          // Number() also takes "", " ", "0x10" and "Infinity": only then ask the strict pattern.
          if (!(Number.isFinite(v) && c.length > 0 && c.charCodeAt(c.length - 1) <= 57 && !/[xXoObB]/.test(c)) && !NUMBER.test(c)) {
            fail(line, `${dims[j].name} "${c}" is not a number`);
          }
          x[j] = v;
        }
        if (count === 0) startedUnixS = t;
        lastT = t;
        count++;
        yield { t, x };
      }
      if (count === 0) fail(line, "no samples after the header row");
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
