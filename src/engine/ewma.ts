// Exponentially weighted moving average in continuous time, with its first
// and second time derivatives. Samples arrive every 100 ms, every 10 ms, or
// irregularly, so the weight comes from the real step: α = 1 − exp(−Δt/τ)
// is the discretisation of dȳ/dt = (y − ȳ)/τ, and the same τ means the same
// smoothing whatever the tick.

import { exp } from "./detmath.ts";

/**
 * α for a step of `dtS` seconds and time constant `tauS` (τ = 0: no
 * smoothing). With `minSamples` > 0 the time constant spans at least that
 * many steps too, τ_eff = max(τ, minSamples·Δt): a 0.3 s τ would vanish at
 * 60 s steps (α = 1) and smooth nothing (docs/engine.md §2).
 */
export function ewmaAlpha(dtS: number, tauS: number, minSamples = 0): number {
  const tau = minSamples * dtS > tauS ? minSamples * dtS : tauS;
  if (tau <= 0) return 1;
  return 1 - exp(-dtS / tau);
}

/**
 * α = ewmaAlpha(dt, τ, minSamples) per step size, remembered for the last 32
 * step sizes met. Live ticks repeat one Δt; a recording's timestamps, rounded
 * to the microsecond, give a handful of Δt that differ in their last bits
 * (21 for 0.1 s ticks), which a single remembered Δt missed on most samples
 * (an exp per EWMA per sample). Same bits as computing it every time: the
 * memo only returns what ewmaAlpha returned for that exact Δt.
 *
 * Smoothers that share τ and minSamples and step at the same times (the
 * engine's D̄_M, φ, propagation index and per-dimension z̄) may share one
 * memo: the first asks, the others find the same Δt as the last one. A
 * recording whose clock jitters (every Δt different) then costs one
 * exponential a sample instead of one per smoother.
 */
export class AlphaMemo {
  readonly tauS: number;
  readonly minSamples: number;
  private lastDt = Number.MAX_VALUE;
  private lastAlpha = 1;
  /** Direct-mapped on the low bits of Δt; a key no Δt > 0 equals until set. */
  private readonly keys = new Float64Array(32).fill(-1);
  private readonly values = new Float64Array(32);
  private readonly bits = new Float64Array(1);
  private readonly words = new Uint32Array(this.bits.buffer);

  constructor(tauS: number, minSamples = 0) {
    this.tauS = tauS;
    this.minSamples = minSamples;
  }

  alpha(dt: number): number {
    if (dt === this.lastDt) return this.lastAlpha;
    this.bits[0] = dt;
    const h = (this.words[0] ^ this.words[1]) & 31;
    let a: number;
    if (this.keys[h] === dt) a = this.values[h];
    else {
      a = ewmaAlpha(dt, this.tauS, this.minSamples);
      this.keys[h] = dt;
      this.values[h] = a;
    }
    this.lastDt = dt;
    this.lastAlpha = a;
    return a;
  }
}

/** Smoothed value, velocity (per s) and acceleration (per s²) of one signal (the last two unless `derivatives` is false: then they stay 0). */
export class Ewma {
  readonly tauS: number;
  readonly minSamples: number;
  value = NaN;
  /** dȳ/dt from the real step, itself smoothed with the same α. */
  derivative = 0;
  /** d²ȳ/dt² from the real step of the smoothed derivative, smoothed again. */
  acceleration = 0;
  lastT = NaN;
  /** α per step size: the exponential is computed once per step size, not per sample. */
  private readonly memo: AlphaMemo;

  /** Velocity and acceleration are followed (two divisions per sample); the engine reads only the value. */
  private readonly derivatives: boolean;

  /** `memo`: an AlphaMemo of the same τ and minSamples to share (see AlphaMemo); its own otherwise. */
  constructor(tauS: number, minSamples = 0, opts: { memo?: AlphaMemo; derivatives?: boolean } = {}) {
    this.tauS = tauS;
    this.minSamples = minSamples;
    const m = opts.memo;
    if (m && (m.tauS !== tauS || m.minSamples !== minSamples)) throw new Error("Ewma: a shared AlphaMemo must have the same τ and minSamples");
    this.memo = m ?? new AlphaMemo(tauS, minSamples);
    this.derivatives = opts.derivatives ?? true;
  }

  /**
   * Start from a known level (the baseline's mean distance): the first
   * sample then only starts the clock, since with no Δt it has no weight.
   */
  prime(value: number): void {
    this.value = value;
    this.derivative = 0;
    this.acceleration = 0;
    this.lastT = NaN;
  }

  /**
   * Take the sample y at time t (seconds). The first sample sets the value
   * (unless primed) with zero derivatives; a repeated timestamp (Δt = 0)
   * carries no time, so it changes nothing. The caller guarantees t never
   * goes backwards.
   */
  update(t: number, y: number): void {
    const last = this.lastT;
    if (last !== last) {
      this.lastT = t;
      if (this.value === this.value) return;
      this.value = y;
      this.derivative = 0;
      this.acceleration = 0;
      return;
    }
    const dt = t - last;
    if (!(dt > 0)) return;
    this.lastT = t;
    const a = this.memo.alpha(dt);
    const prevValue = this.value;
    const value = prevValue + a * (y - prevValue);
    this.value = value;
    if (!this.derivatives) return;
    const prevDerivative = this.derivative;
    const derivative = prevDerivative + a * ((value - prevValue) / dt - prevDerivative);
    this.derivative = derivative;
    this.acceleration += a * ((derivative - prevDerivative) / dt - this.acceleration);
  }
}
