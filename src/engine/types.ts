// The engine's vocabulary. Everything here is plain data: the engine is a
// function from (state, sample) to decision, with no I/O, clock or globals.

/** One named dimension of the state vector. */
export interface DimensionSpec {
  /** Stable identifier, snake_case with its unit: `mem_used_ratio`, `page_faults_per_s`. */
  name: string;
  /** Unit in words: "ratio", "bytes", "1/s", "us". */
  unit: string;
  /**
   * Sign of this dimension in the load direction index φ: +1 when a larger
   * value means more demand on the node, -1 when it means less (free memory),
   * 0 when it says nothing about demand.
   */
  loadSign: 1 | -1 | 0;
  /**
   * Exhaustible resources: the value at which the resource is gone
   * (1 for a used ratio). Time-to-failure extrapolates toward it.
   */
  capacity?: number;
  /** Dimensions whose explosion means the node may spread the problem (forks, new outbound connections). */
  propagation?: boolean;
  /**
   * The smallest standard deviation that means something for this dimension:
   * `noiseFloor` in its own unit, `noiseFloorRel` as a fraction of its mean
   * (the larger wins). On an idle node a dimension barely moves while the
   * baseline is learned; without a floor, hosa's own few megabytes or one
   * fork later read as dozens of σ.
   */
  noiseFloor?: number;
  noiseFloorRel?: number;
}

/**
 * Evidence that a named cgroup (or the node) is heading to exhaustion,
 * measured outside the statistics from per-cgroup usage, limits and
 * pressure (src/engine/danger.ts). Surprise (D_M against θ) says that
 * something is unusual; only danger may slow a workload: Levels 3 and above
 * need it (docs/levels.md).
 */
export interface Danger {
  /**
   * Seconds until the cgroup reaches its limit (or the node runs out of
   * memory) at the growth measured; Infinity when nothing heads there. While
   * a ceiling set by hosa holds a cgroup back and it keeps pressing against
   * it, the projection from before containment stands: the demand is still
   * there, only held.
   */
  ttfS: number;
  /** The cgroup in danger, relative to the cgroup root; "" for the node as a whole; null when there is none. */
  cgroup: string | null;
  /** What runs out, in words: "memory limit", "node memory", "pids limit"; "cpu stall" for CPU harm to a latency-sensitive neighbour (src/engine/cpu-harm.ts). */
  resource: string;
  /** True while the cgroup keeps growing toward exhaustion despite containment in force: containment is failing. */
  containmentFailing: boolean;
  /** One line with the figures behind it, for the decision log. */
  evidence: string;
  /** CPU harm ("cpu stall"): the culprit's CPU use when named, CPU-microseconds per second. */
  ratePerS?: number;
  /**
   * Seen, not yet proven: a memory growth that has not yet been steady for
   * its window (src/engine/danger.ts, "steady"). Vigilance (Level 1) and its
   * dwell runs, but no level that slows anyone. Absent when false.
   */
  pending?: boolean;
}

/** One tick of the node: time in seconds (any monotonic origin) and the vector in `dims` order. */
export interface Sample {
  t: number;
  x: Float64Array;
  /**
   * Per-cgroup danger measured live (and kept in recordings). Absent in
   * recordings without it (CSV exports): the engine then judges danger from
   * its own exhaustible dimensions.
   */
  danger?: Danger;
}

/** θ1..θ4 on the smoothed Mahalanobis distance. */
export interface Thresholds {
  theta1: number;
  theta2: number;
  theta3: number;
  theta4: number;
}

export type Level = 0 | 1 | 2 | 3 | 4 | 5;
export type Regime = -3 | -2 | -1 | 0 | 1 | 2 | 3 | 4 | 5;

export const LEVEL_NAMES = [
  "HOMEOSTASIS",
  "VIGILANCE",
  "SOFT_CONTAINMENT",
  "ACTIVE_CONTAINMENT",
  "SEVERE_CONTAINMENT",
  "QUARANTINE",
] as const;

export const REGIME_NAMES: Record<Regime, string> = {
  [-3]: "anomalous_silence",
  [-2]: "structural_idleness",
  [-1]: "legitimate_idleness",
  [0]: "homeostasis",
  [1]: "plateau_shift",
  [2]: "seasonality",
  [3]: "adversarial",
  [4]: "local_failure",
  [5]: "viral_propagation",
};

/** A learned baseline, as stored (versioned) in the baseline file. */
export interface Baseline {
  version: 1;
  dims: DimensionSpec[];
  /** Number of samples learned from. */
  count: number;
  mean: number[];
  /** Row-major n×n covariance. */
  covariance: number[];
  /** Mean and standard deviation of the smoothed D_M on held-out calibration data (docs/engine.md §4). */
  dmMean: number;
  dmStd: number;
  /**
   * θ1..θ4 as the engine uses them: the fitted tail's quantile at the
   * configured false-alarm rate, floored at dmMean + σk·dmStd and spaced
   * (docs/engine.md §4). Older baselines' thresholds are used as they are.
   */
  thresholds: Thresholds;
  /**
   * ζ1 on the largest smoothed single-dimension z, Z = max_j |z̄_j| (Level 1,
   * docs/engine.md §7), placed out of sample like θ1 at its share of Level
   * 1's rate; absent in older baselines and with one dimension (the
   * statistic is then off).
   */
  dimZeta1?: number;
  /**
   * θ1s on the raw D_M (before the median of three and the EWMA): one
   * sample this far out is Level 1 on its own (docs/engine.md §10), placed
   * out of sample like θ1 at its share of Level 1's rate, never below θ1;
   * absent in older baselines (the path is then off).
   */
  dmSpike1?: number;
  /** Largest smoothed D_M seen in calibration (absent in older baselines). */
  dmMax?: number;
  /** Upper tail of the smoothed D_M in calibration (absent in older baselines or too short calibrations). */
  dmTail?: DmTail;
  /**
   * Whether the calibration's data support its thresholds (docs/engine.md
   * §4): false when it was too short, too few samples per dimension, or the
   * tail could not be fitted. An agent must not act on an unsupported
   * baseline. Absent in baselines written before it existed (treat as true).
   */
  supported?: boolean;
  /** Why it is not supported, or what the operator should know (one line each). */
  warnings?: string[];
  /** Expected false-alarm episodes per day at Level ≥ 1..4 on data like the calibration's. */
  falseAlarmsPerDay?: number[];
  /** Median sampling step of the calibration, seconds. */
  stepS?: number;
}

/** An exponential tail above u: P(D̄_M > u + y) = probability · exp(−y / meanExcess). */
export interface DmTail {
  /** Share of calibration samples above threshold. */
  probability: number;
  threshold: number;
  meanExcess: number;
}

export interface Contribution {
  dim: string;
  /** Share of D_M², the shares of one decision sum to 1. */
  share: number;
}

/** What the engine concluded from one sample; carries every field the decision log needs (document 004). */
export interface Decision {
  t: number;
  level: Level;
  levelName: string;
  /** Level before this sample. */
  previousLevel: Level;
  /** Raw and EWMA-smoothed Mahalanobis distance. */
  dmRaw: number;
  dm: number;
  /**
   * dD_M/dt per second and d²D_M/dt² per second², from a regression of D_M
   * over a window (docs/engine.md §3).
   */
  dmDerivative: number;
  dmAcceleration: number;
  /** The slope is positive beyond its noise (significant and larger than the scatter); the curvature too. */
  dmRising?: boolean;
  dmAccelerating?: boolean;
  phi: number;
  regime: Regime;
  /** Top contributions, largest first. */
  dominant: Contribution[];
  thresholds: Thresholds;
  /** Smallest time-to-failure over exhaustible dimensions, seconds; Infinity when none is heading to capacity. */
  ttfS: number;
  ttfDim: string | null;
  /**
   * The danger judged at this sample (docs/levels.md §1): from sample.danger
   * when the sample carries it, else the engine's own time to failure.
   * dangerTtfS is Infinity when nothing heads to exhaustion; a danger holds
   * while it is below dangerHorizonS.
   */
  dangerTtfS?: number;
  /** The cgroup in danger ("" the node as a whole), null when there is no danger. */
  dangerCgroup?: string | null;
  dangerResource?: string;
  /** One line with the figures behind the danger, "" when there is none. */
  dangerEvidence?: string;
  /** A danger holds and containment is failing (it keeps heading to exhaustion despite containment). */
  containmentFailing?: boolean;
  /** The danger named is pending (seen, not yet steady for its window): Level 1 at most on its account. */
  dangerPending?: boolean;
  /** Why the level changed (or the hold that kept it); empty when nothing happened. */
  reason: string;
  /** True while the engine learns (homeostasis), false while it protects the baseline. */
  learning: boolean;
  /**
   * While a new regime holds (docs/engine.md §9): since when, and the
   * smoothed distance to the baseline itself (dm is then the distance to the
   * regime's level). NaN / absent otherwise.
   */
  regimeSinceT?: number;
  dmBaseline?: number;
}
