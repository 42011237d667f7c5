// A level shift without danger (docs/engine.md §9): the engine at Level 1–2
// for a whole window, no resource heading to exhaustion, and D̄_M as high in
// the window's second half as in its first. A plateau, not a rise: a
// deploy that doubled the traffic, a service moved onto the node, a counter
// reset to a new level. The window is cut in two halves, each of at least
// half the window's seconds and half its samples (so it means the same at
// 10 ms and at 5-minute steps); each half keeps the sums of D̄_M and D̄_M²,
// so the watch is O(1) per sample, with no buffer and no allocation.
//
// Steady: each half's spread of D̄_M is within the baseline's own normal
// range (θ1 − the calibration's mean D̄_M): a plateau wobbles no more than
// the node did at home; an incident that swings D̄_M by hundreds is no
// regime. Flat: the halves' mean D̄_M differ by less than the larger of
// their spreads (and of the calibration's spread of D̄_M). A ramp of any slope
// fails it: the means of two halves of span h lie slope·h apart, while the
// spread within a half is slope·h/√12 ≈ 0.29·slope·h.

/** One half of the window. */
class Half {
  /** A start is set (a flag beside a real time: a field that is NaN at times makes JSC's optimised code bail out, docs/footprint.md). */
  started = false;
  startT = 0;
  startTick = 0;
  /** Samples that carried time. */
  ticks = 0;
  sumDm = 0;
  sumDm2 = 0;
  clear(): void {
    this.started = false;
    this.ticks = 0;
    this.sumDm = 0;
    this.sumDm2 = 0;
  }
  mean(): number {
    return this.ticks > 0 ? this.sumDm / this.ticks : 0;
  }
  std(): number {
    if (this.ticks < 2) return 0;
    const m = this.sumDm / this.ticks;
    const v = (this.sumDm2 - this.ticks * m * m) / (this.ticks - 1);
    return v > 0 ? Math.sqrt(v) : 0;
  }
}

export class ShiftWatch {
  private cur: Half;
  private prev: Half;
  private hasPrev = false;
  /** The confirmed plateau: its mean D̄_M over the last half, and the larger spread of the two halves (at least the floor). */
  level = 0;
  spread = 0;

  constructor() {
    this.cur = new Half();
    this.prev = new Half();
  }

  /** The alarm ended, or a danger came: start over. */
  reset(): void {
    if (this.cur.started) this.cur.clear();
    this.hasPrev = false;
  }

  /**
   * One sample that carried time, taken while the engine alarms without
   * danger, with D̄_M against the baseline. True when the window is
   * complete and flat: `level` and `spread` then describe the plateau, and
   * the watch starts over.
   */
  push(t: number, tick: number, dm: number, halfS: number, halfSamples: number, floorStd: number, maxStd: number): boolean {
    const c = this.cur;
    if (!c.started) {
      c.started = true;
      c.startT = t;
      c.startTick = tick;
    }
    c.ticks++;
    c.sumDm += dm;
    c.sumDm2 += dm * dm;
    if (!(t - c.startT >= halfS && tick - c.startTick + 1 >= halfSamples)) return false;
    // A half is complete: compare it with the one before.
    if (this.hasPrev) {
      const p = this.prev;
      const sp = p.std();
      const sc = c.std();
      let tol = sp > sc ? sp : sc;
      if (floorStd > tol) tol = floorStd;
      if (tol <= maxStd && Math.abs(c.mean() - p.mean()) <= tol) {
        this.level = c.mean();
        this.spread = tol;
        c.clear();
        this.hasPrev = false;
        return true;
      }
    }
    // Not (yet) flat: this half becomes the first half of the next window
    // (the two halves swap roles; nothing is allocated).
    const old = this.prev;
    this.prev = c;
    this.cur = old;
    old.clear();
    this.hasPrev = true;
    return false;
  }
}
