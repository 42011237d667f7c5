// Small, exact statistics over the benchmark's own measurements.

/** Nearest-rank percentile (p in 0..100) of finite values; null when there are none. */
export function percentile(values: number[], p: number): number | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length, Math.max(1, rank)) - 1];
}

export function median(values: number[]): number | null {
  return percentile(values, 50);
}

export function mean(values: number[]): number | null {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

/** `12.34` with `digits` decimals, or an em dash for nothing. */
export function fmt(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

/** Seconds as `42.53 s`, or a word when the event never happened. */
export function fmtS(v: number | null | undefined, never = "never"): string {
  return v === null || v === undefined || !Number.isFinite(v) ? never : `${v.toFixed(2)} s`;
}

// One seeded generator for tests and benchmarks (test/prng.ts).
export { gaussian, prng as rng } from "../../test/prng.ts";
