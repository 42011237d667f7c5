import { describe, expect, test } from "bun:test";
import { lineOverwriter } from "./output.ts";

/** What a terminal shows after the writes: "\r" returns to column 0 and overwrites, erasing nothing. */
function screen(writes: string[]): string {
  let row: string[] = [];
  let col = 0;
  for (const ch of writes.join("")) {
    if (ch === "\r") col = 0;
    else row[col++] = ch;
  }
  return row.join("");
}

describe("lineOverwriter()", () => {
  test("a shorter progress line leaves no stray characters of the longer one", () => {
    const w = lineOverwriter();
    const lines = ["[###...]  66%  120 samples  10 s left", "[####..]  70%  140 samples  9 s left", "[######] 100%  200 samples  0 s left"];
    expect(screen([w(lines[0]!), w(lines[1]!)]).trimEnd()).toBe(lines[1]!);
    expect(screen([w(lines[2]!)].map(String)).trimEnd()).toBe(lines[2]!);
  });

  test("a line wider than the terminal is cut to its width less one, so it never wraps", () => {
    let cols = 20;
    const w = lineOverwriter(() => cols);
    expect(w("[###...]  66%  120 samples  10 s left")).toBe("\r[###...]  66%  120 ");
    cols = 80; // resized: the whole line again
    expect(w("[####..]  70%  140 samples  9 s left")).toBe("\r[####..]  70%  140 samples  9 s left");
    cols = 12;
    expect(w("[######] 100%  200 samples  0 s left")).toBe("\r[######] 10");
  });
});
