import { EXIT, HosaError } from "../errors.ts";

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** "300", "300s", "5m", "1.5h", "250ms" → seconds. `what` names the flag in the error. */
export function parseDurationS(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new HosaError(`invalid ${what} "${text}": expected a duration like 30s, 5m or 2h`, EXIT.USAGE);
  const v = Number(m[1]) * UNITS[m[2] ?? "s"];
  if (!Number.isFinite(v)) throw new HosaError(`invalid ${what} "${text}": out of range`, EXIT.USAGE);
  return v;
}
