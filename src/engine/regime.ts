// The regime: what kind of departure this is, on the axis −3..+5 of the
// HOSA design (negative = under-demand, positive = over-demand). The level
// says how hard to respond; the regime says what the shape looks like.
//
// One sample cannot tell a daily cycle from a leak, so the labels are shape
// rules on (D̄_M, its derivatives, φ, TTF, propagation), ordered from the
// most to the least severe:
//   +5 viral_propagation  propagation index above its critical value
//   −3 anomalous_silence  φ ≤ −phiSilence and D̄_M > θ2: demand collapsed
//                          with no reason in the baseline (lost traffic, hijack)
//   −2 structural_idleness  under-demand (φ ≤ −phiIdle, D̄_M ≤ θ2) that has
//                          lasted structuralIdleS: the node is oversized
//   −1 legitimate_idleness  the same, shorter
//    0 homeostasis        D̄_M ≤ θ1
//   +4 local_failure      D̄_M > θ4, or a resource will be exhausted within ttfCriticalS
//   +3 adversarial        D̄_M > θ2, rising and accelerating: a runaway
//   +2 seasonality        above θ1, rising but decelerating: a bounded swing
//   +1 plateau_shift      above θ1 and not rising: a new level
import type { Regime, Thresholds } from "./types.ts";

export interface RegimeInputs {
  dm: number;
  derivative: number;
  acceleration: number;
  phi: number;
  /** Time-to-failure is below ttfCriticalS (and the node is off baseline). */
  ttfCritical: boolean;
  propagating: boolean;
  /** Seconds the node has been continuously under-demanded (φ ≤ −phiIdle), 0 when it is not. */
  idleForS: number;
}

export interface RegimeLimits {
  phiIdle: number;
  phiSilence: number;
  structuralIdleS: number;
}

export function classifyRegime(r: RegimeInputs, th: Thresholds, lim: RegimeLimits): Regime {
  if (r.propagating) return 5;
  if (r.phi <= -lim.phiSilence && r.dm > th.theta2) return -3;
  if (r.phi <= -lim.phiIdle && r.dm <= th.theta2) return r.idleForS >= lim.structuralIdleS ? -2 : -1;
  if (r.dm <= th.theta1) return 0;
  if (r.dm > th.theta4 || r.ttfCritical) return 4;
  if (r.derivative > 0 && r.acceleration > 0 && r.dm > th.theta2) return 3;
  if (r.derivative > 0) return 2;
  return 1;
}
