// The policy gate (docs/cortex.md §policy): whether a proposal may run, and
// how. Pure. Hypotheses and playbooks suggest; only this code decides, and
// its defaults are the conservative ones: dry-run, approval for everything.
import { createHash } from "node:crypto";
import type { HosaConfig } from "../config.ts";
import { isUnder, norm } from "../respond/targets.ts";
import type { Playbook } from "./playbook.ts";
import { RISKS, type Risk } from "./types.ts";

export type PlanStatus = "dry-run" | "awaiting_approval" | "approved" | "auto" | "blocked";

export interface PlannedStep {
  id: string;
  kind: string;
  risk: Risk;
  /** What it does, in words: `memory.high := usage*1.10 on /a/b`. */
  does: string;
  /** Same incident, step, target and value: same key; a key done once is never done again. */
  idempotency_key: string;
}

export interface GateInput {
  incidentId: string;
  playbook: Playbook;
  cgroup: string | null;
  confidence: number;
  approved: { by: string; at: string } | null;
  /** The episode's peak level, for level_at_least pre-checks (default: no such check fails). */
  peakLevel?: number;
}

export interface GateResult {
  status: PlanStatus;
  risk: Risk;
  reasons: string[];
  steps: PlannedStep[];
}

export function riskRank(r: Risk | "none"): number {
  return r === "none" ? -1 : RISKS.indexOf(r);
}

export function idempotencyKey(incidentId: string, stepId: string, target: string, what: string): string {
  return createHash("sha256").update(`${incidentId}\n${stepId}\n${target}\n${what}`).digest("hex").slice(0, 32);
}

export function describeStep(s: Playbook["steps"][number], cgroup: string): string {
  if (s.kind === "cgroup_set") return `${s.file}${s.v1File ? ` (v1: ${s.v1File})` : ""} := ${s.value} on ${cgroup}`;
  if (s.kind === "signal") return `${s.signal} to processes named ${s.service} in ${cgroup}`;
  return `run ${JSON.stringify(s.argv)} for ${cgroup}`;
}

export function gate(input: GateInput, cfg: Pick<HosaConfig, "cortex" | "respond">): GateResult {
  const { playbook: pb, cgroup } = input;
  const reasons: string[] = [];
  const risk = pb.steps.reduce<Risk>((m, s) => (riskRank(s.risk) > riskRank(m) ? s.risk : m), "low");
  const target = cgroup ?? "";
  const steps = pb.steps.map((s) => ({
    id: s.id,
    kind: s.kind,
    risk: s.risk,
    does: describeStep(s, target || "(no cgroup)"),
    idempotency_key: idempotencyKey(input.incidentId, s.id, target, describeStep(s, target)),
  }));
  const blocked: string[] = [];
  if (!cgroup) blocked.push("no cgroup named by the hypothesis");
  else if (norm(cgroup) === "/") blocked.push("the root cgroup is never a target");
  if (input.confidence < pb.minConfidence) blocked.push(`confidence ${input.confidence} below the playbook's ${pb.minConfidence}`);
  // Pre-checks the decision data can answer; cgroup_exists is the executor's, on the live node.
  for (const p of pb.prechecks) {
    if (p.kind === "level_at_least" && input.peakLevel !== undefined && input.peakLevel < p.value!) blocked.push(`pre-check: peak level ${input.peakLevel} below ${p.value}`);
    if (p.kind === "confidence_at_least" && input.confidence < p.value!) blocked.push(`pre-check: confidence ${input.confidence} below ${p.value}`);
  }
  for (const s of pb.steps) {
    if (s.kind === "command" && !cfg.cortex.commandAllowlist.includes(s.argv![0]!)) blocked.push(`step ${s.id}: ${s.argv![0]} is not in [cortex] command_allowlist`);
  }
  if (cfg.cortex.mode === "act") {
    if (!cfg.respond.cgroupScope) blocked.push("[cortex] mode = \"act\" needs [respond] cgroup_scope");
    else if (cgroup && !isUnder(cgroup, cfg.respond.cgroupScope)) blocked.push(`${cgroup} is outside [respond] cgroup_scope ${cfg.respond.cgroupScope}`);
  }
  if (blocked.length) return { status: "blocked", risk, reasons: blocked, steps };
  if (cfg.cortex.mode === "dry-run") {
    reasons.push("[cortex] mode is dry-run: the plan is written, never executed");
    if (input.approved) reasons.push(`approved by ${input.approved.by} at ${input.approved.at} (recorded; dry-run)`);
    return { status: "dry-run", risk, reasons, steps };
  }
  const autoRisk = riskRank(risk) <= riskRank(cfg.cortex.autoMaxRisk);
  const autoConf = input.confidence >= cfg.cortex.autoMinConfidence;
  if (autoRisk && autoConf) {
    reasons.push(`risk ${risk} within auto_max_risk ${cfg.cortex.autoMaxRisk} and confidence ${input.confidence} ≥ ${cfg.cortex.autoMinConfidence}: runs without approval`);
    return { status: "auto", risk, reasons, steps };
  }
  if (!autoRisk) reasons.push(`risk ${risk} above auto_max_risk ${cfg.cortex.autoMaxRisk}`);
  else reasons.push(`confidence ${input.confidence} below auto_min_confidence ${cfg.cortex.autoMinConfidence}`);
  if (input.approved) {
    reasons.push(`approved by ${input.approved.by} at ${input.approved.at}`);
    return { status: "approved", risk, reasons, steps };
  }
  reasons.push("waits for `hosa incident approve`");
  return { status: "awaiting_approval", risk, reasons, steps };
}
