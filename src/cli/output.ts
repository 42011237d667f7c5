// Human output helpers: colour only on a TTY (chalk decides), JSON always plain.
import chalk from "chalk";
import { EXIT, HosaError } from "../errors.ts";
import type { RecordingReader, TimeOrder } from "../recording/types.ts";
import { excerpt, shownPath } from "../util/input.ts";

export const color = chalk;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function isTty(): boolean {
  return Boolean(process.stdout.isTTY);
}

/** --unordered as a TimeOrder; absent means strict. */
export function timeOrderFlag(value: string | undefined): TimeOrder {
  if (value === undefined) return "strict";
  if (value === "drop" || value === "sort") return value;
  throw new HosaError(`invalid --unordered "${excerpt(value)}": expected drop or sort`, EXIT.USAGE);
}

/** Say on stderr what --unordered did, so a cleaned-up recording is never mistaken for the raw one. */
export function noteTimeOrder(reader: RecordingReader): void {
  const s = reader.stats;
  const where = s.firstOutOfOrder ? ` (the first at ${s.firstOutOfOrder})` : "";
  if (s.dropped > 0) process.stderr.write(`hosa: ${shownPath(reader.path)}: dropped ${s.dropped} of ${s.samples + s.dropped} samples stamped before the one ahead of them${where}\n`);
  if (s.reordered > 0) process.stderr.write(`hosa: ${shownPath(reader.path)}: sorted by time, ${s.reordered} of ${s.samples} samples moved${where}\n`);
}

/**
 * A progress line redrawn in place on a terminal. "\r" moves back but erases
 * nothing, so each line is padded to the width of the one before: "10 s left"
 * then "9 s left" must not leave "leftt". And "\r" goes back to the start of
 * the terminal's row only: a line wider than the terminal wraps and leaves its
 * first rows behind at every redraw, so it is cut to `columns()` - 1 (the
 * terminal's width, read at each redraw: it may be resized).
 */
export function lineOverwriter(columns: () => number | undefined = () => undefined): (line: string) => string {
  let shownChars = 0;
  return (line: string) => {
    const width = columns();
    const fitted = width && width > 1 && line.length >= width ? line.slice(0, width - 1) : line;
    const padded = fitted.padEnd(Math.min(shownChars, width && width > 1 ? width - 1 : shownChars));
    shownChars = fitted.length;
    return `\r${padded}`;
  };
}
