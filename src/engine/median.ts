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

/**
 * median3(a, b, c) without a branch: each of its choices (the lower and the
 * higher of a and b, then c against them) is made by indexing `sel` (six
 * doubles of scratch) with the comparison, 0 or 1, where median3 branches.
 * The same comparisons pick the same operand, NaN, −0 and ties included, so
 * the same bits; on noise median3's branches mispredict about half the time
 * (bench/RESULTS-footprint.md).
 */
export function median3Sel(sel: Float64Array, a: number, b: number, c: number): number {
  // a > b is b < a: false for both when either is NaN, as in median3.
  sel[0] = a;
  sel[1] = b;
  const lowIsB = +(b < a);
  const lo = sel[lowIsB]!;
  const hi = sel[1 - lowIsB]!;
  sel[2] = lo;
  sel[3] = c;
  sel[4] = sel[2 + +(c > lo)]!;
  sel[5] = hi;
  return sel[4 + +(c >= hi)]!;
}

/** A running median of three over a stream: the last two inputs, no allocation. */
export class Median3 {
  private prev1: number;
  private prev2: number;
  private readonly sel = new Float64Array(6);
  constructor(initial = 0) {
    this.prev1 = initial;
    this.prev2 = initial;
  }
  /** The median of the last two inputs and `v`; `v` then joins the history. */
  next(v: number): number {
    const m = median3Sel(this.sel, this.prev2, this.prev1, v);
    this.prev2 = this.prev1;
    this.prev1 = v;
    return m;
  }
}
