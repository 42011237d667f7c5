import type { Danger, Decision } from "../engine/types.ts";
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
  /**
   * Called on every decision; acts only on level changes, new targets and
   * relaxation steps. Levels ≥ 2 act only on the cgroup the danger names
   * (docs/response.md § Danger gate): without danger, surprise only watches.
   */
  onDecision(decision: Decision, cgroups: CgroupUsage[], danger?: Danger): ActionRecord[];
  /** Cgroups hosa holds a memory ceiling on: per limit file hosa wrote, the value it replaced in bytes (Infinity for none). */
  heldCeilings(): Map<string, Record<string, number>>;
  /** Restore everything hosa changed and still owns (clean stop); with keepQuarantine, all but a quarantine's stopped processes and isolation. */
  restoreAll(reason: string, opts?: { keepQuarantine?: boolean }): ActionRecord[];
  /** What is in force now. */
  inForce(): ActionRecord[];
}
