// The median of three values: the smallest running median, Tukey's smoother
// for impulse noise. It removes any single outlier from a sequence and lets
// a step through one sample late, which is the trade the engine wants
// before its EWMA (see engine.ts).

/** The middle one of a, b and c. */
export function median3(a: number, b: number, c: number): number {
  if (a > b) {
    const s = a;
    a = b;
    b = s;
  }
  // Now a ≤ b: the median is b if c ≥ b, else the larger of a and c.
  if (c >= b) return b;
  return c > a ? c : a;
}
