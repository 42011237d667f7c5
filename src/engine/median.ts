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

/** A running median of three over a stream: the last two inputs, no allocation. */
export class Median3 {
  private prev1: number;
  private prev2: number;
  constructor(initial = 0) {
    this.prev1 = initial;
    this.prev2 = initial;
  }
  /** The median of the last two inputs and `v`; `v` then joins the history. */
  next(v: number): number {
    const m = median3(this.prev2, this.prev1, v);
    this.prev2 = this.prev1;
    this.prev1 = v;
    return m;
  }
}
