// What the distance is made of: per-dimension shares of D_M², the top
// contributors, and the signed load direction φ. All write into caller
// buffers: these run once per sample on the hot path.
import type { Contribution } from "./types.ts";

/**
 * Shares of D_M² per dimension into `out`, summing to 1.
 *
 * D_M² = δᵀΣ⁻¹δ = Σ_j δ_j·y_j with y = Σ⁻¹δ. A term δ_j·y_j is negative when
 * dimension j moved against its correlation with the others: it *reduces*
 * the distance, so it explains none of it. Negative terms are clamped to 0
 * and the positive ones renormalised, so the shares answer "which dimensions
 * carry the anomaly" and sum to 1. When x = μ exactly there is nothing to
 * share and every dimension gets 1/n.
 */
export function computeShares(delta: Float64Array, solved: Float64Array, out: Float64Array): void {
  const n = out.length;
  let total = 0;
  for (let j = 0; j < n; j++) {
    const c = delta[j] * solved[j];
    const p = c > 0 ? c : 0;
    out[j] = p;
    total += p;
  }
  if (total > 0 && Number.isFinite(total)) {
    const inv = 1 / total;
    for (let j = 0; j < n; j++) out[j] *= inv;
  } else {
    out.fill(1 / n);
  }
}

/**
 * The largest shares, largest first, written into the preallocated
 * `dominant` entries (its length is how many). Ties keep the lower index
 * first, so the order is deterministic.
 */
export function selectDominant(shares: Float64Array, names: readonly string[], order: Int32Array, dominant: Contribution[]): void {
  const k = dominant.length;
  let filled = 0;
  // The smallest share kept, shares[order[k − 1]], kept in a local once k
  // are kept (read only then).
  let last = 0;
  for (let j = 0; j < shares.length; j++) {
    const v = shares[j];
    if (filled === k && !(v > last)) continue;
    let p = filled < k ? filled++ : k - 1;
    while (p > 0 && shares[order[p - 1]] < v) {
      order[p] = order[p - 1];
      p--;
    }
    order[p] = j;
    if (filled === k) last = shares[order[k - 1]];
  }
  for (let i = 0; i < k; i++) {
    const c = dominant[i];
    c.dim = names[order[i]];
    c.share = shares[order[i]];
  }
}

/**
 * Load direction φ = Σ_j s_j·z_j / sqrt(Σ_j s_j²), with s_j the dimension's
 * loadSign and z_j = δ_j/σ_j its standardised deviation. It is the projection
 * of the standardised deviation on the "more demand" direction, in σ units:
 * + is over-demand, − is under-demand (idleness, or silence), 0 is none, and
 * under the baseline it has unit variance when the dimensions are independent.
 */
export function loadDirection(delta: Float64Array, invStd: Float64Array, signs: Float64Array, signNorm: number): number {
  if (signNorm === 0) return 0;
  let s = 0;
  for (let j = 0; j < delta.length; j++) s += signs[j] * delta[j] * invStd[j];
  return s / signNorm;
}
