// The cortex's vocabulary (docs/cortex.md): an incident is a chain of small,
// versioned JSON artifacts, each naming what it derives from and the
// decision-log lines it rests on, so an operator can follow every step from
// observation to report (document 003: "the important boundary is the
// artifact contract").

export const ARTIFACT_SCHEMA = "hosa.cortex.artifact/v1";

/** The stages, in the order they are written. */
export const ARTIFACT_KINDS = [
  "observation_summary",
  "anomaly_finding",
  "root_cause_hypothesis",
  "remediation_proposal",
  "execution_plan",
  "execution_result",
  "verification_result",
  "incident_report",
] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** Who writes each stage (document 003's logical roles; all in one process here). */
export const PRODUCERS: Record<ArtifactKind, string> = {
  observation_summary: "observer",
  anomaly_finding: "analyzer",
  root_cause_hypothesis: "analyzer",
  remediation_proposal: "planner",
  execution_plan: "policy_gate",
  execution_result: "executor",
  verification_result: "verifier",
  incident_report: "memory",
};

/** A decision-log line an artifact rests on: its sequence number, hash and why it matters. */
export interface EvidenceRef {
  seq: number;
  hash: string;
  why: string;
}

export interface Artifact<B = unknown> {
  schema: typeof ARTIFACT_SCHEMA;
  kind: ArtifactKind;
  /** `<incident id>/<kind>@<revision>`. */
  id: string;
  incident_id: string;
  /** 1 for the first write; a stage rewritten while the episode goes on gets the next revision. */
  revision: number;
  producer: string;
  /** Wall time the artifact describes up to (the last log entry it saw, or the execution time). */
  as_of: string;
  /** Ids of the artifacts it derives from. */
  derived_from: string[];
  evidence: EvidenceRef[];
  body: B;
}

/** One decision-log entry as the cortex reads it (src/report/decision-log.ts levelEntry/actionEntry). */
export interface LogEntry {
  kind: "level" | "action";
  timestamp: string;
  seq: number;
  hash: string;
  level: number;
  previous_level?: number;
  d_m?: number | null;
  d_m_raw?: number | null;
  d_m_derivative?: number | null;
  d_m_acceleration?: number | null;
  phi?: number | null;
  regime?: number;
  dominant_dims?: { dim: string; share: number }[];
  thresholds?: { theta1: number; theta2: number; theta3: number; theta4: number };
  ttf_s?: number | null;
  ttf_dim?: string | null;
  reason?: string;
  target_cgroup?: string | null;
  target?: string;
  action?: string | null;
  action_kind?: string;
  outcome?: string;
  action_effect?: string | null;
  /** Added by the trust issues (engine/danger.ts): present when the engine names a cgroup in danger. */
  danger_ttf_s?: number | null;
  danger_cgroup?: string | null;
  danger_resource?: string;
  danger_evidence?: string | null;
  [key: string]: unknown;
}

/** Failure modes the analyzer knows (docs/cortex.md §signatures). */
export const FAILURE_MODES = ["memory_leak", "fork_storm", "io_saturation", "connection_flood", "cpu_saturation", "anomalous_silence"] as const;
export type FailureMode = (typeof FAILURE_MODES)[number];

export const RISKS = ["low", "medium", "high"] as const;
export type Risk = (typeof RISKS)[number];
