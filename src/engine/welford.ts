// Incremental mean and covariance (Welford 1962, in the weighted form of
// West 1979, "Updating mean and variance estimates: an improved method",
// CACM 22(9)). Old samples can be down-weighted by a decay factor so the
// baseline follows slow drift; decay 1 is the exact, unweighted Welford.

/**
 * Streaming mean and covariance of n-dimensional samples, O(n²) per update,
 * no allocation after construction.
 */
export class Welford {
  readonly n: number;
  /** Sum of the (decayed) sample weights; the sample count when nothing decays. */
  weight = 0;
  readonly mean: Float64Array;
  /** Row-major n×n sum of weighted cross-deviations (the "M2" of Welford); only the upper triangle (j ≥ i) is kept current, and after defer() only once flush() has run. */
  readonly m2: Float64Array;
  private readonly delta: Float64Array;
  private readonly after: Float64Array;
  /**
   * Samples learned by defer() whose products are not yet in m2: their two
   * deviations, row s at s·n, and their decays. `batch` rows at most.
   */
  private readonly batch: number;
  private readonly deltas: Float64Array;
  private readonly afters: Float64Array;
  private readonly decays: Float64Array;
  private pending = 0;
  private pendingDecay = false;

  /** `batch`: how many samples defer() may hold before it applies them (0: defer() is update()). */
  constructor(n: number, batch = 0) {
    this.n = n;
    this.mean = new Float64Array(n);
    this.m2 = new Float64Array(n * n);
    this.delta = new Float64Array(n);
    this.after = new Float64Array(n);
    this.batch = batch > 0 ? Math.floor(batch) : 0;
    this.deltas = new Float64Array(this.batch * n);
    this.afters = new Float64Array(this.batch * n);
    this.decays = new Float64Array(this.batch);
  }

  /** Start from a stored mean and (unbiased) covariance learned from `count` samples. */
  static fromCovariance(mean: ArrayLike<number>, covariance: ArrayLike<number>, count: number, batch = 0): Welford {
    const n = mean.length;
    const w = new Welford(n, batch);
    w.weight = count;
    const scale = count > 1 ? count - 1 : 0;
    for (let i = 0; i < n; i++) w.mean[i] = mean[i];
    for (let k = 0; k < n * n; k++) w.m2[k] = covariance[k] * scale;
    return w;
  }

  /**
   * Learn one sample. `decay` in (0, 1] multiplies the weight of everything
   * learned so far before the new sample (weight 1) is added: the weighted
   * mean and M2 about it scale by the same factor, so the update stays exact
   * for the weights w_i = Π decay.
   */
  update(x: ArrayLike<number>, decay = 1): void {
    if (this.pending > 0) this.flush();
    const n = this.n;
    const mean = this.mean;
    const m2 = this.m2;
    const delta = this.delta;
    const w = this.weight * decay + 1;
    this.weight = w;
    const inv = 1 / w;
    // Two deviations: from the old mean (delta) and from the new one (x − mean').
    // Their product is the exact increment of M2; it avoids the cancellation
    // of Σx² − n·mean² that ruins the textbook formula on large offsets.
    const after = this.after;
    for (let i = 0; i < n; i++) {
      const d = x[i] - mean[i];
      delta[i] = d;
      const m = mean[i] + d * inv;
      mean[i] = m;
      after[i] = x[i] - m;
    }
    // Without forgetting (decay 1) the product by the decay is skipped: it is exact either way.
    // Four entries of a row at a time: each entry is its own sum of one
    // term, so any order gives the same bits, and the loop's overhead is
    // most of a short row's cost (0.6–0.8 of the time at 32 dimensions,
    // bench/RESULTS-footprint.md).
    if (decay === 1) {
      for (let i = 0; i < n; i++) {
        const di = delta[i];
        const base = i * n;
        let j = i;
        for (; j + 3 < n; j += 4) {
          const k = base + j;
          m2[k] += di * after[j];
          m2[k + 1] += di * after[j + 1];
          m2[k + 2] += di * after[j + 2];
          m2[k + 3] += di * after[j + 3];
        }
        for (; j < n; j++) m2[base + j] += di * after[j];
      }
    } else {
      for (let i = 0; i < n; i++) {
        const di = delta[i];
        const base = i * n;
        for (let j = i; j < n; j++) m2[base + j] = m2[base + j] * decay + di * after[j];
      }
    }
  }

  /**
   * Learn one sample as update() does, with M2's part left for later: the
   * weight and the mean now (the same expressions), the two deviations kept
   * until flush(), which covarianceInto() calls and defer() when its batch
   * is full. m2 is current only after flush(). The engine reads the
   * covariance once per refactorEvery samples, so M2's O(n²) products are
   * made then, each entry held in a register across the batch instead of
   * loaded and stored at every sample.
   */
  defer(x: ArrayLike<number>, decay = 1): void {
    const cap = this.batch;
    if (cap === 0) {
      this.update(x, decay);
      return;
    }
    const n = this.n;
    const mean = this.mean;
    const w = this.weight * decay + 1;
    this.weight = w;
    const inv = 1 / w;
    const row = this.pending * n;
    const deltas = this.deltas;
    const afters = this.afters;
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      const d = xi - mean[i];
      deltas[row + i] = d;
      const m = mean[i] + d * inv;
      mean[i] = m;
      afters[row + i] = xi - m;
    }
    this.decays[this.pending] = decay;
    if (decay !== 1) this.pendingDecay = true;
    if (++this.pending === cap) this.flush();
  }

  /**
   * M2 of the deferred samples: each entry takes their products in the
   * order they were learned, m2 + p₁ + p₂ + … (with decays, (m2·d₁ + p₁)·d₂
   * + p₂ …), the very operations update() would have made one sample at a
   * time, so the same bits. Four entries of a row at a time, each its own
   * chain of additions.
   */
  flush(): void {
    const count = this.pending;
    if (count === 0) return;
    this.pending = 0;
    const n = this.n;
    const m2 = this.m2;
    const D = this.deltas;
    const A = this.afters;
    const end = count * n;
    if (!this.pendingDecay) {
      for (let i = 0; i < n; i++) {
        const base = i * n;
        let j = i;
        for (; j + 3 < n; j += 4) {
          const k = base + j;
          let m0 = m2[k];
          let m1 = m2[k + 1];
          let m2k = m2[k + 2];
          let m3 = m2[k + 3];
          for (let r = 0; r < end; r += n) {
            const di = D[r + i];
            const a = r + j;
            m0 += di * A[a];
            m1 += di * A[a + 1];
            m2k += di * A[a + 2];
            m3 += di * A[a + 3];
          }
          m2[k] = m0;
          m2[k + 1] = m1;
          m2[k + 2] = m2k;
          m2[k + 3] = m3;
        }
        for (; j < n; j++) {
          let m = m2[base + j];
          for (let r = 0; r < end; r += n) m += D[r + i] * A[r + j];
          m2[base + j] = m;
        }
      }
      return;
    }
    this.pendingDecay = false;
    // A sample of decay 1 takes m·1 + p, which is m + p to the bit.
    const decays = this.decays;
    for (let i = 0; i < n; i++) {
      const base = i * n;
      for (let j = i; j < n; j++) {
        let m = m2[base + j];
        for (let s = 0, r = 0; s < count; s++, r += n) m = m * decays[s] + D[r + i] * A[r + j];
        m2[base + j] = m;
      }
    }
  }

  /** Unbiased covariance M2 / (W − 1) into `out` (n×n row-major, exactly symmetric); zeros until two samples are in. */
  covarianceInto(out: Float64Array): Float64Array {
    if (this.pending > 0) this.flush();
    const n = this.n;
    const denom = this.weight - 1;
    if (!(denom > 0)) {
      out.fill(0, 0, n * n);
      return out;
    }
    const inv = 1 / denom;
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = this.m2[i * n + j] * inv;
        out[i * n + j] = v;
        out[j * n + i] = v;
      }
    }
    return out;
  }

  covariance(): Float64Array {
    return this.covarianceInto(new Float64Array(this.n * this.n));
  }
}
