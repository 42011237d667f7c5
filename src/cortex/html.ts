// The incident report as one self-contained HTML file (docs/cortex.md
// §report): inline CSS and SVG, no external resource, so it opens from a
// mail attachment or an air-gapped laptop. Pure: artifacts and log entries in,
// a string out.
import type { AnomalyFinding, Hypotheses, Observation } from "./analyze.ts";
import type { ExecutionResult, IncidentReport, Plan, Proposal } from "./cortex.ts";
import { toMs } from "./episodes.ts";
import type { Artifact, EvidenceRef, LogEntry } from "./types.ts";
import type { Verification } from "./verify.ts";

const esc = (s: unknown) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const MAX_POINTS = 1500;

interface Point {
  s: number;
  dm: number;
  level: number;
  e: LogEntry;
}

/** The episode's decisions as chart points, at most MAX_POINTS (evenly thinned, first and last kept). */
function points(entries: LogEntry[]): Point[] {
  if (entries.length === 0) return [];
  const t0 = toMs(entries[0]!.timestamp);
  let pts = entries.filter((e) => typeof e.d_m === "number").map((e) => ({ s: (toMs(e.timestamp) - t0) / 1000, dm: e.d_m as number, level: e.level, e }));
  if (pts.length > MAX_POINTS) {
    const k = pts.length / MAX_POINTS;
    pts = pts.filter((_, i) => i === pts.length - 1 || Math.floor(i / k) !== Math.floor((i - 1) / k));
  }
  return pts;
}

function dmChart(pts: Point[], entries: LogEntry[]): string {
  const W = 900;
  const H = 260;
  const L = 50;
  const B = 30;
  if (pts.length === 0) return `<p>No D_M values in the log.</p>`;
  const th = entries.find((e) => e.thresholds)?.thresholds;
  const maxS = Math.max(1, ...pts.map((p) => p.s));
  const ys = [...pts.map((p) => p.dm), ...(th ? [th.theta4] : [])].filter((v) => v > 0);
  const lo = Math.log10(Math.max(0.1, Math.min(...ys) * 0.8));
  const hi = Math.log10(Math.max(...ys) * 1.2);
  const x = (s: number) => L + (s / maxS) * (W - L - 10);
  const y = (v: number) => H - B - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / Math.max(1e-9, hi - lo)) * (H - B - 10);
  // The log holds decisions at level changes and actions only: a long gap is
  // drawn dashed, as what it is (no data), not as a measured trend.
  let path = "";
  let gaps = "";
  pts.forEach((p, i) => {
    const q = pts[i - 1];
    if (!q) path += `M${x(p.s).toFixed(1)},${y(p.dm).toFixed(1)}`;
    else if (p.s - q.s > 15) {
      gaps += `M${x(q.s).toFixed(1)},${y(q.dm).toFixed(1)}L${x(p.s).toFixed(1)},${y(p.dm).toFixed(1)}`;
      path += `M${x(p.s).toFixed(1)},${y(p.dm).toFixed(1)}`;
    } else path += `L${x(p.s).toFixed(1)},${y(p.dm).toFixed(1)}`;
  });
  const lines = th
    ? (["theta1", "theta2", "theta3", "theta4"] as const)
        .map((k, i) => `<line class="theta" x1="${L}" x2="${W - 10}" y1="${y(th[k]).toFixed(1)}" y2="${y(th[k]).toFixed(1)}" stroke="${PALETTE[i + 1]}" stroke-dasharray="4 3"/><text x="${W - 12 - i * 70}" y="${(y(th[k]) - 3).toFixed(1)}" text-anchor="end" font-size="10" fill="${PALETTE[i + 1]}">θ${i + 1} ${f2(th[k])}</text>`)
        .join("")
    : "";
  const acts = pts
    .filter((p) => p.e.kind === "action" && String(p.e.outcome ?? "").startsWith("applied"))
    .map((p) => `<line class="action-mark" x1="${x(p.s).toFixed(1)}" x2="${x(p.s).toFixed(1)}" y1="10" y2="${H - B}" stroke="#d62728" stroke-opacity="0.35"><title>${esc(p.e.action)} on ${esc(p.e.target_cgroup ?? p.e.target)}</title></line>`)
    .join("");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${x(f * maxS).toFixed(1)}" y="${H - 10}" font-size="10" text-anchor="middle">${(f * maxS).toFixed(0)} s</text>`).join("");
  const yt = [lo, (lo + hi) / 2, hi].map((l) => `<text x="${L - 4}" y="${y(10 ** l).toFixed(1)}" font-size="10" text-anchor="end">${f2(10 ** l)}</text>`).join("");
  const dots = pts.map((p) => `<circle cx="${x(p.s).toFixed(1)}" cy="${y(p.dm).toFixed(1)}" r="2.5" fill="${PALETTE[0]}"><title>${esc(p.e.timestamp)} level ${p.level} D_M ${f2(p.dm)}</title></circle>`).join("");
  return `<svg id="chart-dm" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="D_M and thresholds"><rect x="${L}" y="10" width="${W - L - 10}" height="${H - B - 10}" fill="#fafafa" stroke="#ccc"/>${lines}${acts}<path d="${gaps}" fill="none" stroke="#999" stroke-width="1" stroke-dasharray="2 4"/><path d="${path}" fill="none" stroke="${PALETTE[0]}" stroke-width="1.5"/>${dots}${ticks}${yt}<text x="12" y="${(H - B) / 2}" font-size="11" transform="rotate(-90 12 ${(H - B) / 2})" text-anchor="middle">D_M (log)</text></svg>`;
}

function levelChart(pts: Point[]): string {
  const W = 900;
  const H = 110;
  const L = 50;
  if (pts.length === 0) return "";
  const maxS = Math.max(1, ...pts.map((p) => p.s));
  const x = (s: number) => L + (s / maxS) * (W - L - 10);
  const y = (lv: number) => H - 20 - (lv / 5) * (H - 30);
  let d = "";
  pts.forEach((p, i) => {
    d += i === 0 ? `M${x(p.s).toFixed(1)},${y(p.level).toFixed(1)}` : `H${x(p.s).toFixed(1)}V${y(p.level).toFixed(1)}`;
  });
  const grid = [0, 1, 2, 3, 4, 5].map((lv) => `<text x="${L - 4}" y="${(y(lv) + 3).toFixed(1)}" font-size="9" text-anchor="end">L${lv}</text>`).join("");
  return `<svg id="chart-level" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="level"><rect x="${L}" y="10" width="${W - L - 10}" height="${H - 30}" fill="#fafafa" stroke="#ccc"/>${grid}<path d="${d}" fill="none" stroke="#d62728" stroke-width="2"/></svg>`;
}

function dimsChart(pts: Point[], top: string[]): string {
  const W = 900;
  const H = 160;
  const L = 50;
  const decisions = pts.filter((p, i) => i === 0 || p.e.t !== pts[i - 1]!.e.t);
  if (decisions.length === 0 || top.length === 0) return "";
  const maxS = Math.max(1, ...decisions.map((p) => p.s));
  const bw = Math.max(2, Math.min(18, (W - L - 10) / decisions.length - 1));
  const x = (s: number) => L + (s / maxS) * (W - L - 10 - bw);
  const colour = (dim: string) => PALETTE[top.indexOf(dim) >= 0 ? top.indexOf(dim) : PALETTE.length - 1]!;
  let bars = "";
  for (const p of decisions) {
    let y0 = H - 20;
    for (const c of p.e.dominant_dims ?? []) {
      const h = Math.max(0, c.share) * (H - 30);
      y0 -= h;
      bars += `<rect x="${x(p.s).toFixed(1)}" y="${y0.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${colour(c.dim)}"><title>${esc(c.dim)} ${Math.round(c.share * 100)}%</title></rect>`;
    }
  }
  const legend = top.map((d, i) => `<span class="swatch" style="background:${PALETTE[i]}"></span>${esc(d)}`).join(" ");
  return `<svg id="chart-dims" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="top dimensions"><rect x="${L}" y="10" width="${W - L - 10}" height="${H - 30}" fill="#fafafa" stroke="#ccc"/><text x="${L - 4}" y="14" font-size="9" text-anchor="end">100%</text>${bars}</svg><p class="legend">${legend} <span class="swatch" style="background:${PALETTE[PALETTE.length - 1]}"></span>other</p>`;
}

function evidenceList(list: EvidenceRef[]): string {
  if (!list.length) return "";
  return `<ul class="evidence">${list.map((e) => `<li>${e.seq >= 0 ? `<code>log seq ${e.seq}</code> <code class="hash">${esc(e.hash.slice(0, 12))}</code> ` : ""}${esc(e.why)}</li>`).join("")}</ul>`;
}

export function renderHtml(chain: Artifact[], entries: LogEntry[], generatedAt: string): string {
  const by = new Map(chain.map((a) => [a.kind, a]));
  const get = <B>(k: Artifact["kind"]) => by.get(k) as Artifact<B> | undefined;
  const rep = get<IncidentReport>("incident_report");
  const obs = get<Observation>("observation_summary")?.body;
  const an = get<AnomalyFinding>("anomaly_finding")?.body;
  const hyA = get<Hypotheses>("root_cause_hypothesis");
  const pr = get<Proposal>("remediation_proposal")?.body;
  const pl = get<Plan>("execution_plan")?.body;
  const ex = get<ExecutionResult>("execution_result")?.body;
  const veA = get<Verification>("verification_result");
  const id = chain[0]?.incident_id ?? "incident";
  const pts = points(entries);
  const top = (obs?.dims ?? []).slice(0, PALETTE.length - 1).map((d) => d.dim);
  const h = hyA?.body;
  const actions = obs?.actions ?? [];
  const t0 = entries.length ? toMs(entries[0]!.timestamp) : 0;
  const rel = (iso: string) => `${((toMs(iso) - t0) / 1000).toFixed(1)} s`;
  const statusClass = rep?.body.status === "resolved" ? "ok" : rep?.body.status === "unresolved" ? "bad" : "open";
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hosa ${esc(id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px;border-bottom:1px solid #ddd}
.status{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff}.ok{background:#2ca02c}.bad{background:#d62728}.open{background:#ff7f0e}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}
code{font-size:12px;background:#f3f3f3;padding:0 3px}.swatch{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px}
.legend{font-size:12px;margin:2px 0}.muted{color:#777}
</style></head>
<body data-ready="0">
<header id="summary"><h1>${esc(rep?.body.title ?? id)} <span class="status ${statusClass}">${esc(rep?.body.status ?? "open")}</span></h1>
<p class="muted">${esc(id)} · opened ${esc(rep?.body.opened_at ?? "")} · ${rep?.body.closed_at ? `closed ${esc(rep.body.closed_at)}` : "still open"} · peak level ${esc(rep?.body.peak_level ?? "")} · generated ${esc(generatedAt)} by hosa</p></header>
<section id="timeline"><h2>Timeline</h2>
<p>D_M (smoothed Mahalanobis distance) at each logged decision (level changes and actions) against the thresholds θ1..θ4; dotted: no decision logged in between; red ticks: actions applied.</p>
${dmChart(pts, entries)}
${levelChart(pts)}
<h2>Top dimensions</h2><p>Share of D_M² of the leading dimensions at each decision.</p>
${dimsChart(pts, top)}</section>
<section id="anomaly"><h2>Anomaly</h2>${an ? `<p>${esc(an.severity)}; thresholds crossed at the peak: ${esc(an.thresholds_crossed_at_peak.join(", ") || "none")}; regime ${esc(an.regime)}; ${esc(an.trend)}; ${esc(an.direction)}.</p><p>Leading dimensions: ${an.top_dims.map((d) => `<code>${esc(d.dim)}</code> ${Math.round(d.share * 100)}%`).join(", ")}</p>` : "<p>none</p>"}</section>
<section id="actions"><h2>Actions and their effects</h2>
${actions.length ? `<table><tr><th>at</th><th>target</th><th>action</th><th>outcome</th><th>effect</th></tr>${actions.map((a) => `<tr><td>${esc(rel(a.at))}</td><td><code>${esc(a.target)}</code></td><td>${esc(a.action)}</td><td>${esc(a.outcome)}</td><td>${esc(a.effect)}</td></tr>`).join("")}</table>` : "<p>hosa's responder took no action in this episode.</p>"}
${ex ? `<p>Playbook execution: <b>${esc(ex.status)}</b>${ex.runs > 1 ? ` (resumed, ${ex.runs} starts)` : ""}</p>${ex.steps.length ? `<ul>${ex.steps.map((s) => `<li>${esc(s.id)}: ${esc(s.status)} ${esc(s.detail)}</li>`).join("")}</ul>` : ""}${ex.events.length ? `<ul class="muted">${ex.events.map((e) => `<li>${esc(e.at)} ${esc(e.what)}</li>`).join("")}</ul>` : ""}` : ""}</section>
<section id="hypothesis"><h2>Hypothesis</h2>
${h?.top ? `<p><b>${esc(h.top.title)}</b>${h.top.cgroup ? ` in <code>${esc(h.top.cgroup)}</code>` : ""}, confidence ${f2(h.top.confidence)} (score ${esc(h.top.score)}: dimensions ${esc(h.top.parts.dims)}, onset ${esc(h.top.parts.onset)}, regime ${esc(h.top.parts.regime)}, actions ${esc(h.top.parts.actions)}, danger ${esc(h.top.parts.danger)}, history ${esc(h.top.parts.history)})</p>${evidenceList(h.top.evidence)}` : "<p>No failure mode stands out.</p>"}
${h ? `<table><tr><th>failure mode</th><th>score</th><th>confidence</th><th>cgroup</th></tr>${h.candidates.map((c) => `<tr><td>${esc(c.title)}</td><td>${esc(c.score)}</td><td>${f2(c.confidence)}</td><td><code>${esc(c.cgroup ?? "")}</code></td></tr>`).join("")}</table>` : ""}
${pr ? `<p>Proposal: ${pr.playbook ? `<b>${esc(pr.playbook)}</b> — ${esc(pr.description)}; steps ${esc(pr.steps.join(", "))}` : esc(pr.why)}</p>` : ""}
${pl ? `<p>Policy gate: <b>${esc(pl.status)}</b> (risk ${esc(pl.risk)}). ${esc(pl.reasons.join("; "))}</p>` : ""}</section>
<section id="verification"><h2>Verification</h2>
${veA ? `<p><b>${esc(veA.body.status)}</b>: ${esc(veA.body.criterion)}. ${esc(veA.body.detail)}.</p>${evidenceList(veA.evidence)}` : "<p>No playbook, nothing to verify.</p>"}</section>
<footer class="muted"><p>Artifact chain: ${chain.map((a) => `<code>${esc(a.id)}</code>`).join(" → ")}</p></footer>
<script>
window.addEventListener("error", function (e) { document.body.setAttribute("data-error", String(e.message)); });
document.body.setAttribute("data-ready", "1");
document.body.setAttribute("data-render-ms", String(Math.round(performance.now())));
</script>
</body></html>
`;
}
