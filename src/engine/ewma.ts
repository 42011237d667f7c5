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

/** Smoothed value, velocity (per s) and acceleration (per s²) of one signal. */
export class Ewma {
  readonly tauS: number;
  readonly minSamples: number;
  value = NaN;
  /** dȳ/dt from the real step, itself smoothed with the same α. */
  derivative = 0;
  /** d²ȳ/dt² from the real step of the smoothed derivative, smoothed again. */
  acceleration = 0;
  lastT = NaN;
  /** α of the last step and the Δt it was computed for: ticks are regular, so the exponential is computed once per step size, not per sample. */
  private alphaDt = NaN;
  private alpha = 1;

  constructor(tauS: number, minSamples = 0) {
    this.tauS = tauS;
    this.minSamples = minSamples;
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
    if (dt !== this.alphaDt) {
      this.alphaDt = dt;
      this.alpha = ewmaAlpha(dt, this.tauS, this.minSamples);
    }
    const a = this.alpha;
    const prevValue = this.value;
    const value = prevValue + a * (y - prevValue);
    this.value = value;
    const prevDerivative = this.derivative;
    const derivative = prevDerivative + a * ((value - prevValue) / dt - prevDerivative);
    this.derivative = derivative;
    this.acceleration += a * ((derivative - prevDerivative) / dt - this.acceleration);
  }
}
