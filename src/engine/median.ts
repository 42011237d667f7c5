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
 * Which of (a, b, c) median3 returns, by its comparisons: index
 * 16·(b < a) + 8·(c ≥ a) + 4·(c ≥ b) + 2·(c > a) + (c > b) gives 0 for a, 1
 * for b, 2 for c. median3 swaps when a > b (b < a), then returns the higher
 * of the two when c ≥ it, else c when c > the lower, else the lower: with
 * the higher and the lower named, each of its comparisons is one of these
 * five. A constant table, built once, never written.
 */
const MEDIAN3_PICK: Uint8Array = (() => {
  const pick = new Uint8Array(32);
  for (let k = 0; k < 32; k++) {
    const swap = (k & 16) !== 0;
    const geA = (k & 8) !== 0;
    const geB = (k & 4) !== 0;
    const gtA = (k & 2) !== 0;
    const gtB = (k & 1) !== 0;
    // Swapped: lower b, higher a; else lower a, higher b.
    pick[k] = swap ? (geA ? 0 : gtB ? 2 : 1) : geB ? 1 : gtA ? 2 : 0;
  }
  return pick;
})();

/**
 * median3(a, b, c) without a branch: the five comparisons median3 may make
 * index MEDIAN3_PICK, and the operand it names is read back from `sel`
 * (three doubles of scratch). The same comparisons of the same values pick
 * the same operand, NaN (every comparison false), −0 and ties included, so
 * the same bits; on noise median3's branches mispredict about half the time
 * (bench/RESULTS-footprint.md).
 */
export function median3Sel(sel: Float64Array, a: number, b: number, c: number): number {
  sel[0] = a;
  sel[1] = b;
  sel[2] = c;
  const k = (+(b < a) << 4) | (+(c >= a) << 3) | (+(c >= b) << 2) | (+(c > a) << 1) | +(c > b);
  return sel[MEDIAN3_PICK[k]!]!;
}

/** A running median of three over a stream: the last two inputs, no allocation. */
export class Median3 {
  private prev1: number;
  private prev2: number;
  private readonly sel = new Float64Array(3);
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
