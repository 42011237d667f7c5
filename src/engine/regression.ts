// Slope and curvature of a signal over a sliding window, by least squares
// (docs/engine.md §3). A finite difference of a smoothed signal flickers in
// sign with every noise sample; a regression over a window that spans
// enough time AND enough samples gives the slope with its standard error,
// so "rising" can mean "rising beyond what the noise explains" at 10 ms
// ticks and at 5-minute exports alike.
//
// The window keeps the samples of the last `windowS` seconds, never fewer
// than `minSamples` (when that many have arrived), never more than
// `capacity`. Running sums make a step O(1); they are recomputed from the
// ring every `capacity` pushes against a fresh time origin, so rounding
// never accumulates and u = t − origin stays small. No allocation after
// construction.

/**
 * The one-sided Student-t quantile matching the normal quantile z at `dof`
 * degrees of freedom (Cornish–Fisher expansion, Abramowitz & Stegun 26.7.5):
 * a window of 8 samples has 6 degrees of freedom, and there "3 standard
 * errors" happens about ten times as often as for a normal variable.
 */
export function tCritical(z: number, dof: number): number {
  if (!(dof > 0)) return Infinity;
  const z2 = z * z;
  return z * (1 + (z2 + 1) / (4 * dof) + (5 * z2 * z2 + 16 * z2 + 3) / (96 * dof * dof));
}

export class WindowRegression {
  readonly windowS: number;
  readonly minSamples: number;
  readonly capacity: number;
  protected readonly ts: Float64Array;
  protected readonly ys: Float64Array;
  protected head = 0;
  /** Samples in the window. */
  count = 0;
  protected origin = NaN;
  protected pushes = 0;
  protected s0 = 0;
  protected su = 0;
  protected suu = 0;
  protected suuu = 0;
  protected suuuu = 0;
  protected sy = 0;
  protected suy = 0;
  protected suuy = 0;
  protected syy = 0;

  /** Slope dy/dt (per second) of the linear fit, and its standard error. */
  slope = 0;
  slopeSe = Infinity;
  /** d²y/dt² (per second²) of the quadratic fit, and its standard error. */
  accel = 0;
  accelSe = Infinity;
  /** The linear fit's value at the newest sample, and the residual standard deviation. */
  level = NaN;
  residualStd = 0;
  /** Seconds from the oldest to the newest sample in the window. */
  spanS = 0;
  /** tCritical(z) for the slope (n − 2 degrees of freedom) and the curvature (n − 3), for the z given at construction. */
  slopeT = Infinity;
  accelT = Infinity;
  private readonly z: number;
  protected newestT = NaN;
  /** The count slopeT and accelT were computed for. */
  private tN = 0;

  /** Fit the quadratic too (curvature); off for a slope alone. */
  readonly quadratic: boolean;

  /** `ring`: the ring's slots, at least `capacity` (a DeferredRegression keeps more). */
  constructor(windowS: number, minSamples: number, z = 3, capacity = 128, quadratic = true, ring = capacity) {
    this.z = z;
    this.quadratic = quadratic;
    this.windowS = windowS;
    this.minSamples = Math.max(3, Math.min(minSamples, capacity));
    this.capacity = capacity;
    this.ts = new Float64Array(ring);
    this.ys = new Float64Array(ring);
  }

  reset(): void {
    this.count = 0;
    this.head = 0;
    this.pushes = 0;
    this.origin = NaN;
    this.s0 = this.su = this.suu = this.suuu = this.suuuu = this.sy = this.suy = this.suuy = this.syy = 0;
    this.slope = 0;
    this.slopeSe = Infinity;
    this.accel = 0;
    this.accelSe = Infinity;
    this.level = NaN;
    this.residualStd = 0;
    this.spanS = 0;
  }

  protected add(u: number, y: number, sign: number): void {
    const su = sign * u;
    const suu = su * u;
    const sy = sign * y;
    this.s0 += sign;
    this.su += su;
    this.suu += suu;
    this.sy += sy;
    this.suy += su * y;
    this.syy += sy * y;
    if (this.quadratic) {
      this.suuu += suu * u;
      this.suuuu += suu * u * u;
      this.suuy += suu * y;
    }
  }

  private rebase(): void {
    const cap = this.capacity;
    const newest = (this.head + this.count - 1) % cap;
    this.origin = this.ts[newest];
    this.s0 = this.su = this.suu = this.suuu = this.suuuu = this.sy = this.suy = this.suuy = this.syy = 0;
    // Oldest to newest, as the ring holds them (a wrap instead of a modulo per sample; same order, same sums).
    let k = this.head;
    for (let i = 0; i < this.count; i++) {
      this.add(this.ts[k] - this.origin, this.ys[k], 1);
      if (++k === cap) k = 0;
    }
  }

  /** Take y at time t (t never goes backwards) and refit, unless `fit` is false (then call refit() before reading the fit). */
  push(t: number, y: number, fit = true): void {
    const cap = this.capacity;
    if (this.origin !== this.origin) this.origin = t;
    if (this.count === cap) this.dropOldest();
    let k = this.head + this.count;
    if (k >= cap) k -= cap;
    this.ts[k] = t;
    this.ys[k] = y;
    this.count++;
    this.add(t - this.origin, y, 1);
    while (this.count > this.minSamples && t - this.ts[this.head] > this.windowS) this.dropOldest();
    if (++this.pushes >= cap) {
      this.pushes = 0;
      this.rebase();
    }
    this.newestT = t;
    if (fit) this.fit(t);
  }

  /** Fit the line over the current window (after push(t, y, false)). */
  refit(): void {
    this.fit(this.newestT);
  }

  private dropOldest(): void {
    const h = this.head;
    this.add(this.ts[h] - this.origin, this.ys[h], -1);
    this.head = h + 1 === this.capacity ? 0 : h + 1;
    this.count--;
  }

  protected fit(tNow: number): void {
    const n = this.count;
    this.spanS = n > 0 ? tNow - this.ts[this.head] : 0;
    if (n < 3 || !(this.spanS > 0)) {
      this.slope = 0;
      this.slopeSe = Infinity;
      this.accel = 0;
      this.accelSe = Infinity;
      this.level = n > 0 ? this.sy / n : NaN;
      this.residualStd = 0;
      return;
    }
    const mu = this.su / n;
    const my = this.sy / n;
    const cuu = this.suu - this.su * mu;
    const cuy = this.suy - this.su * my;
    const cyy = this.syy - this.sy * my;
    const b = cuu > 0 ? cuy / cuu : 0;
    const sse = cyy - b * cuy;
    const s2 = sse > 0 ? sse / (n - 2) : 0;
    this.slope = b;
    if (n !== this.tN) {
      this.tN = n;
      this.slopeT = tCritical(this.z, n - 2);
      this.accelT = tCritical(this.z, n - 3);
    }
    this.slopeSe = cuu > 0 ? Math.sqrt(s2 / cuu) : Infinity;
    this.residualStd = Math.sqrt(s2);
    this.level = my + b * (tNow - this.origin - mu);
    this.accel = 0;
    this.accelSe = Infinity;
  }

  /**
   * Fit the parabola over the current window into `accel` and `accelSe`
   * (they stay 0 and Infinity until asked): the curvature is needed only
   * while something is happening, and its 3×3 solve is most of a push's cost.
   */
  fitCurvature(): void {
    const n = this.count;
    if (n < 4 || !this.quadratic || !(this.spanS > 0)) {
      this.accel = 0;
      this.accelSe = Infinity;
      return;
    }
    // Quadratic fit y = a + b·u + c·u²: the normal equations, solved by the
    // adjugate of their symmetric 3×3 matrix [[n, Σu, Σu²], [Σu, Σu², Σu³], [Σu², Σu³, Σu⁴]].
    const a00 = n;
    const a01 = this.su;
    const a02 = this.suu;
    const a11 = this.suu;
    const a12 = this.suuu;
    const a22 = this.suuuu;
    const c00 = a11 * a22 - a12 * a12;
    const c01 = a02 * a12 - a01 * a22;
    const c02 = a01 * a12 - a02 * a11;
    const c11 = a00 * a22 - a02 * a02;
    const c12 = a01 * a02 - a00 * a12;
    const c22 = a00 * a11 - a01 * a01;
    const det = a00 * c00 + a01 * c01 + a02 * c02;
    if (!(Math.abs(det) > 1e-300)) {
      this.accel = 0;
      this.accelSe = Infinity;
      return;
    }
    const inv = 1 / det;
    const qa = (c00 * this.sy + c01 * this.suy + c02 * this.suuy) * inv;
    const qb = (c01 * this.sy + c11 * this.suy + c12 * this.suuy) * inv;
    const qc = (c02 * this.sy + c12 * this.suy + c22 * this.suuy) * inv;
    const sse2 = this.syy - qa * this.sy - qb * this.suy - qc * this.suuy;
    const q2 = sse2 > 0 ? sse2 / (n - 3) : 0;
    const v22 = c22 * inv;
    this.accel = 2 * qc;
    this.accelSe = v22 > 0 ? 2 * Math.sqrt(q2 * v22) : Infinity;
  }
}

/**
 * A WindowRegression whose running sums catch up only when they are read.
 * The engine's capacity dimensions are pushed at every step but their fit
 * is read only while one is off its baseline toward capacity
 * (src/engine/engine.ts ownTtf): there every sum waits (refit() catches up).
 * D_M's regression is fitted at every step but its curvature only while
 * something happens: with `eagerLine` the line's sums (Σ1, Σu, Σu², Σy,
 * Σuy, Σy²) are kept at every push and only the parabola's (Σu³, Σu⁴,
 * Σu²y) wait for fitCurvature(). A push keeps the window (its slots, head
 * and count) as WindowRegression's does; a catch-up then adds and drops, in
 * the order the pushes made them, what the waiting sums have not yet taken,
 * starting from the window of the last rebase when one came since (a rebase
 * recomputes the sums from scratch). Each sum is its own chain of additions,
 * its terms the same expressions of the same operands in the same order:
 * the same bits as WindowRegression's, read at any push. The ring has twice
 * `capacity` slots, so that the window of the last rebase (at most
 * `capacity` samples) and the pushes since (fewer than `capacity`) are all
 * still in it.
 */
export class DeferredRegression extends WindowRegression {
  private readonly slots: number;
  /** Keep the line's sums at every push; only the parabola's wait. */
  private readonly eagerLine: boolean;
  /** The window (head, count) the waiting sums stand for, and the pushes since that they have not taken. */
  private sHead = 0;
  private sCount = 0;
  private pending = 0;
  /** A rebase came since the last catch-up: the waiting sums start from the window (sHead, sCount) against the rebase's origin. */
  private rebased = false;

  constructor(windowS: number, minSamples: number, z = 3, capacity = 128, quadratic = true, eagerLine = false) {
    super(windowS, minSamples, z, capacity, quadratic, 2 * capacity);
    this.slots = 2 * capacity;
    this.eagerLine = eagerLine;
  }

  override reset(): void {
    super.reset();
    this.sHead = 0;
    this.sCount = 0;
    this.pending = 0;
    this.rebased = false;
  }

  override push(t: number, y: number, fit = true): void {
    const slots = this.slots;
    const line = this.eagerLine;
    if (this.origin !== this.origin) this.origin = t;
    if (this.count === this.capacity) this.dropFirst(line);
    let k = this.head + this.count;
    if (k >= slots) k -= slots;
    this.ts[k] = t;
    this.ys[k] = y;
    this.count++;
    this.pending++;
    if (line) this.addLine(t - this.origin, y, 1);
    while (this.count > this.minSamples && t - this.ts[this.head] > this.windowS) this.dropFirst(line);
    if (++this.pushes >= this.capacity) {
      // WindowRegression's rebase; the waiting sums' part left to the next catch-up.
      this.pushes = 0;
      k = this.head + this.count - 1;
      if (k >= slots) k -= slots;
      const origin = this.ts[k];
      this.origin = origin;
      this.sHead = this.head;
      this.sCount = this.count;
      this.pending = 0;
      this.rebased = true;
      if (line) {
        this.s0 = this.su = this.suu = this.sy = this.suy = this.syy = 0;
        let h = this.head;
        for (let i = 0; i < this.count; i++) {
          this.addLine(this.ts[h] - origin, this.ys[h], 1);
          if (++h === slots) h = 0;
        }
      }
    }
    this.newestT = t;
    if (fit) this.refit();
  }

  override refit(): void {
    if (!this.eagerLine && (this.rebased || this.pending > 0)) this.catchUp();
    this.fit(this.newestT);
  }

  override fitCurvature(): void {
    if (this.quadratic && (this.rebased || this.pending > 0)) this.catchUp();
    super.fitCurvature();
  }

  /** WindowRegression's add, the line's sums only (the same expressions). */
  private addLine(u: number, y: number, sign: number): void {
    const su = sign * u;
    const sy = sign * y;
    this.s0 += sign;
    this.su += su;
    this.suu += su * u;
    this.sy += sy;
    this.suy += su * y;
    this.syy += sy * y;
  }

  /** WindowRegression's add, the parabola's sums only (the same expressions). */
  private addParabola(u: number, y: number, sign: number): void {
    const suu = sign * u * u;
    this.suuu += suu * u;
    this.suuuu += suu * u * u;
    this.suuy += suu * y;
  }

  private dropFirst(line: boolean): void {
    const h = this.head;
    if (line) this.addLine(this.ts[h] - this.origin, this.ys[h], -1);
    this.head = h + 1 === this.slots ? 0 : h + 1;
    this.count--;
  }

  /** The waiting sums' adds and drops since they were last brought up to date, in WindowRegression's order. */
  private catchUp(): void {
    const slots = this.slots;
    const cap = this.capacity;
    const ts = this.ts;
    const ys = this.ys;
    const origin = this.origin;
    const all = !this.eagerLine;
    let head = this.sHead;
    let count = this.sCount;
    if (this.rebased) {
      this.rebased = false;
      if (all) this.s0 = this.su = this.suu = this.sy = this.suy = this.syy = 0;
      this.suuu = this.suuuu = this.suuy = 0;
      let k = head;
      for (let i = 0; i < count; i++) {
        if (all) this.add(ts[k] - origin, ys[k], 1);
        else this.addParabola(ts[k] - origin, ys[k], 1);
        if (++k === slots) k = 0;
      }
    }
    for (let p = this.pending; p > 0; p--) {
      if (count === cap) {
        if (all) this.add(ts[head] - origin, ys[head], -1);
        else this.addParabola(ts[head] - origin, ys[head], -1);
        if (++head === slots) head = 0;
        count--;
      }
      let k = head + count;
      if (k >= slots) k -= slots;
      const t = ts[k];
      if (all) this.add(t - origin, ys[k], 1);
      else this.addParabola(t - origin, ys[k], 1);
      count++;
      while (count > this.minSamples && t - ts[head] > this.windowS) {
        if (all) this.add(ts[head] - origin, ys[head], -1);
        else this.addParabola(ts[head] - origin, ys[head], -1);
        if (++head === slots) head = 0;
        count--;
      }
    }
    this.sHead = head;
    this.sCount = count;
    this.pending = 0;
  }
}
