// The decision's fields as the decision log, `hosa replay --json`, webhooks,
// `hosa explain` and the quarantine snapshot write them: pure functions of a
// Decision, so every stage may use them without reaching up into report.
import type { Decision } from "./types.ts";

/** Round for logs: enough digits to be exact in replay comparisons, stable across runs. */
export function round6(v: number): number | null {
  if (!Number.isFinite(v)) return null;
  return Math.round(v * 1e6) / 1e6;
}

/** `mem_used_ratio:68%, psi_mem_some:19%` as in document 004. */
export function formatDominant(d: Decision, top = 3): string {
  return d.dominant
    .slice(0, top)
    .map((c) => `${c.dim}:${Math.round(c.share * 100)}%`)
    .join(", ");
}

/** Which thresholds the smoothed distance is above. */
export function thresholdsCrossed(d: Decision): string[] {
  const th = d.thresholds;
  const out: string[] = [];
  if (d.dm > th.theta1) out.push("theta1");
  if (d.dm > th.theta2) out.push("theta2");
  if (d.dm > th.theta3) out.push("theta3");
  if (d.dm > th.theta4) out.push("theta4");
  return out;
}

/**
 * The decision's fields with the names of document 004 (snake_case), shared
 * by the decision log, `hosa replay --json`, webhooks and `hosa explain`.
 */
export function decisionFields(d: Decision): Record<string, unknown> {
  return {
    t: d.t,
    level: d.level,
    level_name: d.levelName,
    previous_level: d.previousLevel,
    d_m: round6(d.dm),
    d_m_raw: round6(d.dmRaw),
    d_m_derivative: round6(d.dmDerivative),
    d_m_acceleration: round6(d.dmAcceleration),
    phi: round6(d.phi),
    regime: d.regime,
    dominant_dims: d.dominant.map((c) => ({ dim: c.dim, share: round6(c.share) })),
    thresholds: {
      theta1: round6(d.thresholds.theta1),
      theta2: round6(d.thresholds.theta2),
      theta3: round6(d.thresholds.theta3),
      theta4: round6(d.thresholds.theta4),
    },
    thresholds_crossed: thresholdsCrossed(d),
    ttf_s: round6(d.ttfS),
    ttf_dim: d.ttfDim,
    d_m_rising: d.dmRising ?? false,
    d_m_accelerating: d.dmAccelerating ?? false,
    danger_ttf_s: round6(d.dangerTtfS ?? Infinity),
    danger_cgroup: d.dangerCgroup ?? null,
    danger_resource: d.dangerResource ?? "",
    danger_evidence: d.dangerEvidence ?? "",
    containment_failing: d.containmentFailing ?? false,
    // Only while the danger named is pending, so other decisions keep their bytes.
    ...(d.dangerPending ? { danger_pending: true } : {}),
    learning: d.learning,
    // Only while a new regime holds, so decisions outside one keep their bytes.
    ...(d.regimeSinceT !== undefined && d.regimeSinceT === d.regimeSinceT ? { regime_since_t: d.regimeSinceT, d_m_baseline: round6(d.dmBaseline ?? NaN) } : {}),
    reason: d.reason,
  };
}
