// An incident's chain told as a story, one stage after the other, for
// `hosa incident show`. Pure: artifacts in, text out.
import type { AnomalyFinding, Hypotheses, Observation } from "./analyze.ts";
import type { ExecutionResult, IncidentReport, IncidentSummary, Plan, Proposal } from "./cortex.ts";
import type { Artifact, EvidenceRef } from "./types.ts";
import type { Verification } from "./verify.ts";

const LEVEL_NAMES = ["HOMEOSTASIS", "VIGILANCE", "SOFT_CONTAINMENT", "ACTIVE_CONTAINMENT", "SEVERE_CONTAINMENT", "QUARANTINE"];

function hhmmss(iso: string | null): string {
  return iso ? iso.slice(11, 19) : "—";
}

function ev(e: EvidenceRef): string {
  return e.seq >= 0 ? `[log seq ${e.seq}] ${e.why}` : e.why;
}

/** One line per incident for `hosa incident list`. */
export function listLine(s: IncidentSummary): string {
  const what = s.mode ? `${s.mode.replace(/_/g, " ")}${s.cgroup ? ` in ${s.cgroup}` : ""} (${Math.round(s.confidence * 100)}%)` : "unexplained";
  return `${s.id}  ${s.opened_at.slice(0, 19).replace("T", " ")}  L${s.peak_level}  ${s.status.padEnd(10)}  ${what}; plan ${s.plan}, ${s.execution}, verification ${s.verification}`;
}

export function renderStory(chain: Artifact[]): string {
  const by = new Map(chain.map((a) => [a.kind, a]));
  const get = <B>(k: Artifact["kind"]) => by.get(k) as Artifact<B> | undefined;
  const out: string[] = [];
  const rep = get<IncidentReport>("incident_report");
  const id = chain[0]?.incident_id ?? "?";
  out.push(`${id}: ${rep?.body.title ?? "incident"} (${rep?.body.status ?? "open"})`);
  const stage = (n: number, a: Artifact | undefined, title: string, lines: string[]) => {
    if (!a) return;
    out.push("");
    out.push(`${n}. ${title}  (${a.producer}, ${a.id}${a.derived_from.length ? ` ← ${a.derived_from.map((d) => d.split("/")[1]).join(", ")}` : ""})`);
    for (const l of lines) out.push(`   ${l}`);
  };
  const obs = get<Observation>("observation_summary");
  if (obs) {
    const o = obs.body;
    stage(1, obs, "Observation", [
      `${hhmmss(o.started_at)} → ${o.open ? "still open" : hhmmss(o.ended_at)} (${o.duration_s} s), peak level ${o.peak_level} ${LEVEL_NAMES[o.peak_level] ?? ""}, D_M up to ${o.peak_d_m}`,
      `levels: ${o.levels.map((l) => `${l.level} at ${hhmmss(l.at)} (seq ${l.seq})`).join(", ")}`,
      `${o.actions.length} action entr${o.actions.length === 1 ? "y" : "ies"}${o.actions.length ? `: ${[...new Set(o.actions.map((a) => `${a.action.split(" ")[0]} on ${a.target}`))].slice(0, 4).join("; ")}` : ""}`,
      ...(o.danger.length ? [`danger: ${o.danger[0]!.evidence} (${o.danger[0]!.cgroup})`] : []),
    ]);
  }
  const an = get<AnomalyFinding>("anomaly_finding");
  if (an) {
    const a = an.body;
    stage(2, an, "Anomaly", [
      `${a.severity}: thresholds crossed at the peak ${a.thresholds_crossed_at_peak.join(", ") || "none"}`,
      `leading dimensions: ${a.top_dims.map((d) => `${d.dim} ${Math.round(d.share * 100)}%`).join(", ")}`,
      `regime ${a.regime}; ${a.trend}; ${a.direction}`,
    ]);
  }
  const hy = get<Hypotheses>("root_cause_hypothesis");
  if (hy) {
    const h = hy.body;
    const lines: string[] = [];
    if (h.top) {
      lines.push(`${h.top.title}${h.top.cgroup ? ` in ${h.top.cgroup}` : ""}, confidence ${h.top.confidence.toFixed(2)}`);
      lines.push(`score ${h.top.score}: dims ${h.top.parts.dims}, onset ${h.top.parts.onset}, regime ${h.top.parts.regime}, actions ${h.top.parts.actions}, danger ${h.top.parts.danger}, history ${h.top.parts.history}`);
      for (const e of h.top.evidence) lines.push(`evidence: ${ev(e)}`);
    } else lines.push("no failure mode stands out");
    lines.push(`also considered: ${h.candidates.slice(1, 4).map((c) => `${c.title} ${c.score}`).join(", ")}`);
    if (h.similar.length) lines.push(`similar past incidents: ${h.similar.map((s) => `${s.id} (${s.mode}, ${s.similarity})`).join(", ")}`);
    stage(3, hy, "Hypothesis", lines);
  }
  const pr = get<Proposal>("remediation_proposal");
  if (pr) {
    const p = pr.body;
    stage(4, pr, "Proposal", p.playbook ? [`${p.playbook} (${p.playbook_file}): ${p.description}`, `steps: ${p.steps.join(", ")}`, `verify: ${p.verification}; rollback: ${p.rollback}`] : [p.why]);
  }
  const pl = get<Plan>("execution_plan");
  if (pl) {
    const p = pl.body;
    stage(5, pl, "Plan", [`${p.status} (risk ${p.risk})`, ...p.reasons, ...p.steps.map((s) => `step ${s.id}: ${s.does} [key ${s.idempotency_key.slice(0, 12)}]`)]);
  }
  const ex = get<ExecutionResult>("execution_result");
  if (ex) {
    const x = ex.body;
    stage(6, ex, "Execution", [`${x.status}${x.runs > 1 ? ` (resumed: ${x.runs} starts)` : ""}`, ...x.steps.map((s) => `step ${s.id}: ${s.status}${s.detail ? `, ${s.detail}` : ""}`), ...x.events.map((e) => `${hhmmss(e.at)} ${e.what}`)]);
  }
  const ve = get<Verification>("verification_result");
  if (ve) {
    const v = ve.body;
    stage(7, ve, "Verification", [`${v.status}: ${v.criterion}`, v.detail, ...ve.evidence.map(ev)]);
  }
  if (rep) {
    const r = rep.body;
    stage(8, rep, "Report", [`${r.status}: ${r.title}; plan ${r.plan_status}, execution ${r.execution_status}, verification ${r.verification_status}`]);
  }
  return `${out.join("\n")}\n`;
}
