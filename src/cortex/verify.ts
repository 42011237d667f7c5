// The verifier (docs/cortex.md §verification): did the node come back, as
// the playbook says it must, within its window? Pure: judged from the
// episode's decision-log entries and a time given by the caller.
import { toMs, type Episode } from "./episodes.ts";
import type { Playbook } from "./playbook.ts";
import type { EvidenceRef } from "./types.ts";

export interface Verification {
  status: "pending" | "passed" | "failed";
  /** What must hold, in words. */
  criterion: string;
  /** Wall time the window opened (execution done, or the plan written in dry-run) and closes. */
  from: string;
  until: string;
  detail: string;
}

export function verifyEpisode(ep: Episode, pb: Playbook, fromIso: string, nowIso: string): { body: Verification; evidence: EvidenceRef[] } {
  const v = pb.verify;
  const from = toMs(fromIso);
  const until = from + v.withinS * 1000;
  const criterion =
    `level ≤ ${v.maxLevel} within ${v.withinS} s` + (v.dimsNotDominant.length ? `, with ${v.dimsNotDominant.join(", ")} no longer leading while D_M ≥ θ1` : "");
  const untilIso = new Date(until).toISOString();
  // The level in force when the window opens counts too (a plan approved
  // after the node came back finds it back), then every later change.
  const levels = ep.entries.filter((e) => e.kind === "level");
  const inForce = levels.filter((e) => toMs(e.timestamp) <= from).pop();
  for (const e of [...(inForce ? [inForce] : []), ...levels.filter((x) => toMs(x.timestamp) > from)]) {
    const at = Math.max(from, toMs(e.timestamp));
    if (at > until || e.level > v.maxLevel) continue;
    const lead = e.dominant_dims?.[0];
    const aboveTheta1 = typeof e.d_m === "number" && e.thresholds ? e.d_m >= e.thresholds.theta1 : false;
    if (aboveTheta1 && lead && v.dimsNotDominant.includes(lead.dim)) continue;
    return {
      body: { status: "passed", criterion, from: fromIso, until: untilIso, detail: `level ${e.level} at ${e.timestamp}, ${((at - from) / 1000).toFixed(1)} s after the window opened` },
      evidence: [{ seq: e.seq, hash: e.hash, why: `back to level ${e.level}: ${String(e.reason ?? "")}` }],
    };
  }
  if (toMs(nowIso) > until) {
    const last = ep.entries.filter((e) => e.kind === "level").pop();
    return {
      body: { status: "failed", criterion, from: fromIso, until: untilIso, detail: `still at level ${last?.level ?? "?"} when the window closed` },
      evidence: last ? [{ seq: last.seq, hash: last.hash, why: `last level: ${String(last.reason ?? "")}` }] : [],
    };
  }
  return { body: { status: "pending", criterion, from: fromIso, until: untilIso, detail: "the window is open" }, evidence: [] };
}
