import type { Decision } from "../engine/types.ts";
import type { CgroupUsage } from "../sense/types.ts";

/** One thing hosa did (or, in detection-only mode, would have done) to the node. */
export interface ActionRecord {
  /** Stable id, also the journal key. */
  id: string;
  t: number;
  level: number;
  kind: "cgroup" | "xdp" | "signal" | "quarantine" | "k8s" | "sampling";
  /** Target: a cgroup path, an interface, a pid list, a node name. */
  target: string;
  /** What was written where, in words: `memory.high max→1.6G`. */
  action: string;
  /** "applied", "restored", "skipped: <why>", "would apply (detection-only)", "failed: <why>". */
  outcome: string;
}

/** Turns decisions into actions. Detection-only responders record what they would do. */
export interface Responder {
  /** Called on every decision; acts only on level changes and relaxation steps. */
  onDecision(decision: Decision, cgroups: CgroupUsage[]): ActionRecord[];
  /** Restore everything hosa changed and still owns (clean stop). */
  restoreAll(reason: string): ActionRecord[];
  /** What is in force now. */
  inForce(): ActionRecord[];
}
